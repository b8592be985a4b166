# engine/tokenizer.mk: owned by its module
