# engine/train/bpe.mk: the byte-level BPE tokenizer trainer.
