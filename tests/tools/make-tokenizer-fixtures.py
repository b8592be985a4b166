#!/usr/bin/env python3
"""make-tokenizer-fixtures.py: expected tokenizations for tests/test-tokenizer.c.

Writes two fixtures:

  tests/data/tokenizer-smollm.txt   ids from Hugging Face `tokenizers` for SmolLM2's vocabulary
  tests/data/tokenizer-pretok.txt   pre-tokenizer pieces for llama3, qwen2, deepseek-v3, smollm

The SmolLM2 tokenizer is rebuilt from the GGUF's own metadata (vocabulary, merges, control
tokens) with the pipeline of SmolLM2's tokenizer.json: Digits(individual_digits=True) then
ByteLevel(add_prefix_space=False), BPE without unknown token, control tokens as added special
tokens. (transformers' own GGUF loader, AutoTokenizer.from_pretrained(dir, gguf_file=...), builds
a different pre-tokenizer: on this battery it differs on 2 of 80 inputs, both a space before a
non-ASCII number ("ⅷ", "٤"), which it keeps with the number where Digits and llama.cpp's \p{N}
split it off. The fixture follows tokenizer.json and llama.cpp.) Pre-tokenizer pieces come from tokenizers' Split(Regex, "isolated") with the regexes of
the models' tokenizer.json files.

Inputs are byte strings. Hugging Face takes text, so invalid UTF-8 is first turned into text
the way the C tokenizer (and llama.cpp) does it: every byte that does not start a well-formed
sequence becomes U+FFFD on its own.

Line formats (hex is the UTF-8 or raw bytes, "-" for empty):
  smollm: <flags> <input hex> <id> <id> ...      flags: p = parse special, n = not
  pretok: <name> <input hex> <piece hex> ...

Usage: tests/tools/make-tokenizer-fixtures.py [model.gguf]   (run from the repository root)
"""
import sys

import gguf
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DS3_RES = [r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
           r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"
           r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]


def battery():
    """The inputs, as bytes."""
    s = [
        "", "a", "Hello", "Hello world", "Hello, world!", " Hello", "  Hello", "   leading",
        "trailing ", "trailing   ", "hello\tworld", "\t\tindent", "line1\nline2",
        "para\n\n\nnext", "crlf\r\nline", "mixed \t\n \r\n end", "a  b   c    d",
        "I'm you're we've they'll he'd it's", "DON'T 'S 'Re", "1234567", "3.14159",
        "1,000,000.00 and 42", "x=1+2*3/4-5", "0x1F 0b1010 1e-9", "version 2.0.1-rc3",
        "def f(x):\n    return x ** 2\n", "int main(void) { return 0; }",
        "for (i = 0; i < n; i++) {\n\tsum += a[i];\n}", "<div class=\"a\">&amp;</div>",
        "https://example.com/path?q=1&r=two#frag", "user@example.org", "C:\\Windows\\path",
        "$100 ~ 50% ^ | @ # `code`", "((((nested))))", "!!!???...", "— en–dash “quotes” ‘single’",
        "naïve café résumé", "Straße Übermaß ÆØÅ", "Ελληνικά κείμενο", "Русский текст",
        "עברית", "العربية", "हिन्दी", "日本語のテキスト", "中文文本测试", "한국어 텍스트",
        "カタカナ ひらがな 漢字", "e\u0301 a\u0308 combining", "Z\u0351\u036b\u0343\u036a",
        "😀", "emoji 😀😃😄 here", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👍🏽 tone",
        "①②③ ⅷ ½ ²", "١٢٣ ٤٥٦", "\u00a0nbsp\u00a0\u3000ideo", "\u2028sep\u2029",
        "<|im_start|>user\nhi<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n"
        "<|im_start|>assistant\n", "<|endoftext|>", "a<|im_end|>b", "<|im_end", "<repo_name>x",
        "supercalifragilisticexpialidocious" * 8, "word " * 30, " " * 17, "\n" * 5,
        "tab\t\t\ttabs\t", "MiXeD CaSe WoRdS", "snake_case_name camelCaseName",
        "ﬁ ligature ℌ", "\x00\x01 ctrl \x7f",
    ]
    b = [x.encode("utf-8") for x in s]
    b += [b"\xff", b"bad \xff\xfe byte", b"trunc \xe4\xb8", b"\xc3(", b"\xed\xa0\x80 surrogate",
          b"over \xc0\xaf long", b"\x80\x80 cont"]
    return b


def to_text(data):
    """Bytes to str with one U+FFFD per byte that starts no well-formed sequence."""
    out, i = [], 0
    while i < len(data):
        b = data[i]
        need = 1 if b < 0x80 else 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF \
            else 4 if 0xF0 <= b <= 0xF4 else 0
        try:
            if need == 0:
                raise ValueError
            out.append(data[i:i + need].decode("utf-8"))
            i += need
        except (UnicodeDecodeError, ValueError):
            out.append("\ufffd")
            i += 1
    return "".join(out)


def hexs(data):
    return data.hex() if data else "-"


def smollm_tokenizer(path):
    r = gguf.GGUFReader(path)
    toks = r.fields["tokenizer.ggml.tokens"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ", 1)) for m in r.fields["tokenizer.ggml.merges"].contents()]
    vocab = {t: i for i, t in enumerate(toks)}
    tk = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([t for t, ty in zip(toks, types) if ty == 3])
    return tk


def write_smollm(path, out):
    tk = smollm_tokenizer(path)
    with open(out, "w") as f:
        f.write("# SmolLM2 ids from tokenizers %s; see make-tokenizer-fixtures.py\n"
                % __import__("tokenizers").__version__)
        for data in battery():
            text = to_text(data)
            for flag in "pn":
                tk.encode_special_tokens = flag == "n"
                ids = tk.encode(text, add_special_tokens=False).ids
                f.write("%s %s %s\n" % (flag, hexs(data), " ".join(map(str, ids))))


def splitter(regexes):
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in regexes])


def write_pretok(out):
    sps = {"llama-bpe": splitter([LLAMA3_RE]), "qwen2": splitter([QWEN2_RE]),
           "deepseek-v3": splitter(DS3_RES), "smollm": splitter([r"\p{N}", GPT2_RE])}
    with open(out, "w") as f:
        f.write("# pre-tokenizer pieces from tokenizers' Split; see make-tokenizer-fixtures.py\n")
        for name, sp in sps.items():
            for data in battery():
                pieces = [p.encode("utf-8") for p, _ in sp.pre_tokenize_str(to_text(data))]
                f.write("%s %s %s\n" % (name, hexs(data), " ".join(hexs(p) for p in pieces)))


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else "tests/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    write_smollm(model, "tests/data/tokenizer-smollm.txt")
    write_pretok("tests/data/tokenizer-pretok.txt")


if __name__ == "__main__":
    main()
