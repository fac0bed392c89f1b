"""What the command line says: library messages (which name Python keywords) turned into the
flags that set them, the one-line failure (exit code 2), and the pip line for a missing optional
dependency."""
from __future__ import annotations

import importlib
import re
import sys
from typing import Any, NoReturn


# Library messages name Python keywords; on the command line they become the flags that set them.
KEYWORD_FLAGS = {"z_dim": "--z-dim", "latent_dim": "--z-dim", "top": "--top", "threshold": "--threshold",
                 "pool_size": "--pool-size", "k": "--k", "batch_size": "--batch-size", "psi": "--psi",
                 "truncation": "--truncation", "noise_mode": "--noise-mode", "classes": "--class", "n": "--n",
                 "force_fp32": "--force-fp32", "seeds": "--seeds", "include_self": "--include-self", "c_dim": "--c-dim",
                 "latent_shape": "--z-shape", "label_format": "--label-format", "label_arg": "--label-arg",
                 "cls": "--class", "class": "--class", "offset": "--offset", "k_dc": "--k-dc", "hub_k": "--hub-k",
                 "n_threads": "--threads", "n_boot": "--n-boot", "device": "--device", "space": "--space",
                 "seed": "--seed", "truncation_cutoff": "--truncation-cutoff"}


_KEYWORD = re.compile(r"\b(" + "|".join(KEYWORD_FLAGS) + r")=([^\s,;)]*)")


# "pool_size must be ...": a keyword named as the subject of a rule: the keywords that are no English word
# (not "top", "threshold", "truncation", "n", "k", ...: "BigGAN's truncation must" is about the model)
_SUBJECT = re.compile(r"(?<![\w'-])(" + "|".join(k for k in KEYWORD_FLAGS if "_" in k or k in ("psi", "offset", "seed"))
                      + r") must\b")


_K_SUBJECT = re.compile(r"^k must\b")  # "k must be ..." as the whole message's subject: the command's --k

FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def flags_for_keywords(message: str, offered: Any = None) -> str:
    """'use top=0.01, threshold=59' -> 'use --top 0.01, --threshold 59'; 'pass z_dim=' -> 'pass --z-dim N';
    'lower k=' -> 'lower --k'.

    With ``offered`` (the flags of the command that failed), a comma-separated piece of advice naming a
    flag the command lacks is left out: `demo` has no --top, so "use top=0.01" is no advice there."""
    def swap(m: re.Match[str]) -> str:
        value, end = m.group(2), ""
        if value.endswith("."):  # the sentence's full stop, not part of the value
            value, end = value[:-1], "."
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":  # device='cuda': --device cuda
            value = value[1:-1]
        if not value and re.search(r"\b(lower|raise)\s+$", m.string[:m.start()]):
            return f"{KEYWORD_FLAGS[m.group(1)]}{end}"  # 'lower k=': 'lower --k', no placeholder
        return f"{KEYWORD_FLAGS[m.group(1)]} {value or 'N'}{end}"

    message = _KEYWORD.sub(swap, message)
    message = _SUBJECT.sub(lambda m: m.group(0) if offered is not None and KEYWORD_FLAGS[m.group(1)] not in offered
                           else f"{KEYWORD_FLAGS[m.group(1)]} must", message)  # a flag the command has, only
    if offered is not None and "--k" in offered:
        message = _K_SUBJECT.sub("--k must", message)
    if offered is None:
        return message
    sentences = []
    for sentence in re.split(r"(?<=[.;])\s+", message):
        clauses = sentence.split(", ")
        kept = [c for c in clauses if all(f in offered for f in FLAG.findall(c))]
        if kept and len(kept) < len(clauses):
            if clauses[-1] not in kept and clauses[-1][-1:] in ".;" and kept[-1][-1:] not in ".;":
                kept[-1] += clauses[-1][-1]  # the dropped last clause ended the sentence
            verb = re.match(r"(\w+ )--", clauses[0])
            if clauses[0] not in kept and verb and kept[0].startswith("--"):
                kept[0] = verb.group(1) + kept[0]  # "use --top 0.01, --threshold 59": "use --threshold 59"
            sentence = ", ".join(kept)
        sentences.append(sentence)
    return " ".join(sentences)


def fail(msg: Any) -> NoReturn:
    msg = " ".join(str(msg).split())  # one line, whatever the exception's text
    print(f"hubness-fast: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


# what to pip install for a module the command needs and does not find (the package's optional dependencies)
INSTALL = {"torch": "torch", "sklearn": "'scikit-learn>=1.6'", "matplotlib": "matplotlib", "mlxtend": "mlxtend",
           "PIL": "Pillow", "scipy": "scipy", "tqdm": "tqdm", "faiss": "faiss-cpu", "zarr": "zarr",
           "dask": "'dask[array,distributed]'", "distributed": "'dask[array,distributed]'"}


def missing_dependency(exc: BaseException) -> str | None:
    """'this needs X, which is not installed: pip install Y' for an error caused by a missing optional
    dependency (the error itself or one it was raised from), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        # a module not found, not a name missing from one that is there (a too old version says so itself)
        name = (getattr(seen, "name", None) or "").split(".")[0] if isinstance(seen, ModuleNotFoundError) else ""
        if name in INSTALL:
            return f"this needs {name}, which is not installed: pip install {INSTALL[name]}"
        seen = seen.__cause__ or seen.__context__
    return None


def require(module: str) -> None:
    """Stop before any work (or any folder is made) when a command's dependency is missing."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        fail(missing_dependency(exc) or str(exc))
