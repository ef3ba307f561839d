"""Build the registry's example models: a small BERT-style English sentiment classifier.

The registry needs real ONNX files to demonstrate and test against: two versions of the
same model whose metadata (inputs, outputs, labels, accuracy on a fixed evaluation set)
can be checked against the files themselves. This script makes them from nothing:

* a **synthetic** English sentiment corpus, generated here from templates and small
  vocabularies with a fixed seed (no data set or pretrained weight is downloaded);
* a ``tokenizers`` WordPiece tokenizer learnt from the training text (the vocabulary
  is learnt here with the library trainer's algorithm but a stable tie-break, since the
  library's own trainer is not reproducible from run to run);
* a tiny BERT-style encoder (token + position embeddings, post-LN transformer layers
  with attention masking, [CLS] pooling, two-way classifier head) trained in torch;
* two versions exported with ``torch.onnx.export`` (the torch.export-based exporter,
  opset 18, dynamic ``batch`` and ``sequence`` axes, one file with no external data):

  - ``1.0.0``: baseline, trained on the raw base training set;
  - ``1.1.0``: "data augmentation and improved preprocessing": the same base set with
    markup stripped and duplicates/label conflicts resolved, plus 50% more sentences
    from synonym swaps and extra negation/contrast templates.

Both versions share one tokenizer and one held-out evaluation set (``eval.npz``), so
their accuracies are directly comparable. 1.1.0 scores higher on it for every seed
tried (the default and 1 to 5: +0.2 to +2.6 points; 93.65% -> 94.95% for the default),
but the gain varies with the seed and is not an ablation of its separate changes.

Everything is deterministic: running the script twice gives byte-identical files
(seeds are fixed, torch runs single-threaded with deterministic algorithms, the
exporter's per-node debug metadata, which holds absolute source paths, is stripped,
and the npz archive is written with fixed timestamps). That holds for the same
machine and package versions; another CPU or torch build may round differently.

Usage::

    python scripts/build_example_models.py [--out DIR] [--seed N]

Needs ``torch==2.13.0`` (CPU), ``onnxscript``, ``onnx``, ``onnxruntime``, ``tokenizers``
and ``numpy``. It prints a summary (size, sha256, accuracy of each version measured with
an onnxruntime CPU session) to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import html
import io
import itertools
import math
import os
import random
import re
import sys
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Must be set before tokenizers spawns its thread pool.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from torch import Tensor, nn
from torch_export import export_classifier

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("build") / "examples"
DEFAULT_SEED = 20240611

MODEL_NAME = "bert-classifier"
VERSIONS = ("1.0.0", "1.1.0")
LABELS = ("negative", "positive")  # index 0 = negative, 1 = positive
MAX_LEN = 32
VOCAB_SIZE = 2000
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
OPSET = 18

# Corpus sizes.
N_EVAL = 2000
N_TRAIN_BASE = 6_000  # v1.0.0 trains on this many raw sentences
AUGMENT_FACTOR = 1.5  # v1.1.0 trains on 1.5x as many (cleaned base + augmentation)
LABEL_NOISE = 0.05  # share of training labels flipped, as if by a careless annotator
MARKUP_NOISE = 0.10  # share of raw training sentences carrying web markup

# Model and training hyperparameters (identical for both versions).
HIDDEN = 64
HEADS = 4
LAYERS = 2
FFN = 256
DROPOUT = 0.1
EPOCHS = 8
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 0.01
WARMUP = 0.06

Example = tuple[str, int]
IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- corpus
#
# Lexicons. Adjectives are ordered roughly by how common they are: the "natural"
# sampler draws them with Zipf-like weights, so the tail words are rare in the base
# training set; v1.1.0's synonym swaps draw them uniformly.

POSITIVE_ADJ = (
    "good", "great", "excellent", "amazing", "wonderful", "fantastic", "nice",
    "enjoyable", "brilliant", "lovely", "impressive", "perfect", "superb", "fun",
    "beautiful", "solid", "pleasant", "delightful", "outstanding", "charming",
    "terrific", "splendid", "stellar", "marvelous", "phenomenal", "exquisite",
    "captivating", "refreshing", "flawless", "riveting", "sublime", "heartwarming",
    "dazzling", "gripping", "praiseworthy", "first-rate", "engaging", "masterful",
    "lovable", "uplifting", "stunning", "gorgeous", "awesome", "remarkable", "memorable",
    "inspiring", "glorious", "magnificent", "exceptional", "wondrous", "joyful",
    "entertaining", "clever", "witty", "polished", "elegant", "thrilling", "breathtaking",
    "impeccable", "reliable",
)  # fmt: skip
NEGATIVE_ADJ = (
    "bad", "terrible", "awful", "boring", "poor", "horrible", "disappointing", "dull",
    "mediocre", "annoying", "weak", "ugly", "slow", "broken", "useless", "bland",
    "painful", "messy", "cheap", "lousy", "dreadful", "abysmal", "atrocious",
    "tedious", "lackluster", "subpar", "pathetic", "clumsy", "unwatchable", "insipid",
    "shoddy", "forgettable", "dismal", "irritating", "underwhelming", "tiresome",
    "clunky", "infuriating", "unbearable", "awkward", "dreary", "mind-numbing",
    "overrated", "overpriced", "flimsy", "sloppy", "incoherent", "lifeless", "frustrating",
    "unpleasant", "defective", "grating", "joyless", "pointless", "shallow", "stale",
    "obnoxious", "unreliable", "glitchy", "nauseating",
)  # fmt: skip
NEUTRAL_ADJ = ("okay", "average", "alright", "ordinary", "so-so", "fine i guess", "acceptable")

SUBJECTS = (
    ("movie", False), ("film", False), ("plot", False), ("acting", False),
    ("soundtrack", False), ("ending", False), ("script", False), ("cast", False),
    ("story", False), ("dialogue", False), ("pacing", False), ("special effects", True),
    ("phone", False), ("battery", False), ("screen", False), ("service", False),
    ("food", False), ("staff", False), ("hotel", False), ("room", False),
    ("delivery", False), ("price", False), ("app", False), ("update", False),
    ("book", False), ("restaurant", False), ("coffee", False), ("camera", False),
    ("laptop", False), ("headphones", True), ("seats", True), ("waiters", True),
    ("characters", True), ("songs", True), ("instructions", True), ("game", False),
)  # fmt: skip
DETERMINERS = ("the", "this", "that", "my", "our", "their")
PLURAL_DETERMINERS = ("the", "these", "those", "my", "our", "their")
INTENSIFIERS = (
    "very", "really", "extremely", "quite", "so", "incredibly", "truly", "pretty",
    "rather", "absolutely", "remarkably", "fairly", "genuinely", "seriously",
)  # fmt: skip
NEGATED_INTENSIFIERS = ("very", "really", "so", "particularly", "especially", "that")
# Negations of "<subject> <be> <adjective>"; every one flips the polarity.
BE_NEGATIONS = (
    "{be} not", "{be}n't", "{be} never", "{be} hardly", "{be} far from", "{be} by no means",
    "{be} not at all", "{be} anything but", "{be} not exactly", "{be} in no way",
    "{be} nowhere near", "{be} not remotely",
)  # fmt: skip
VERB_SUBJECTS = (  # (who, third person singular)
    ("i", False), ("we", False), ("my wife", True), ("my husband", True),
    ("everyone", True), ("the kids", False), ("my friends", False),
)  # fmt: skip
POSITIVE_VERBS = (("loved", "love"), ("liked", "like"), ("enjoyed", "enjoy"),
                  ("adored", "adore"), ("appreciated", "appreciate"))  # fmt: skip
NEGATIVE_VERBS = (("hated", "hate"), ("disliked", "dislike"), ("regretted", "regret"),
                  ("despised", "despise"), ("resented", "resent"))  # fmt: skip
VERB_NEGATIONS = ("did not {base}", "didn't {base}", "never {past}", "{do}n't {base}",
                  "really did not {base}")  # fmt: skip
POSITIVE_VERDICTS = (
    "i would recommend it", "highly recommended", "worth every penny", "would buy again",
    "a must see", "ten out of ten", "five stars", "i will be back", "two thumbs up",
)  # fmt: skip
NEGATIVE_VERDICTS = (
    "a waste of money", "avoid it", "i would not recommend it", "never again", "one star",
    "save your money", "zero stars", "i want a refund", "thumbs down",
)  # fmt: skip
OPENERS = ("honestly,", "overall,", "to be fair,", "in my opinion,", "well,", "frankly,",
           "all in all,", "i have to say")  # fmt: skip
ENDINGS = (".", ".", ".", "!", "!", "", "...", "!!")
MARKUP = ("<br />", "<br /><br />", "&quot;", "&amp;", "<i>", "</i>", "&#39;")


@dataclass(frozen=True)
class SamplerConfig:
    """Probabilities of the sentence generator; the base and augmented sets differ."""

    negation: float  # chance that a clause is negated
    zipf: float  # exponent of the adjective weights; 0 = uniform
    contrast: float  # chance of a two-clause contrast sentence
    mixed: float  # chance of a mixed sentence with no clear label (random label)
    neutral: float  # chance of a neutral sentence (random label)
    agree: float  # chance that both clauses of a "but"/"however" contrast agree
    # Weights of the contrast forms "Y, but X", "although Y, X", "X, even though Y" and
    # "Y. however, X"; X is the main clause, which carries the label.
    forms: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


NATURAL = SamplerConfig(negation=0.25, zipf=1.6, contrast=0.28, mixed=0.03, neutral=0.03, agree=0.2)
# v1.1.0's extra templates: more negation and contrasts, all adjectives equally likely.
NEGATION_HEAVY = SamplerConfig(
    negation=0.6, zipf=0.0, contrast=0.5, mixed=0.0, neutral=0.0, agree=0.2
)


class Generator:
    """Renders labelled sentences from the lexicons with one seeded RNG."""

    def __init__(self, rng: random.Random, config: SamplerConfig) -> None:
        self.rng = rng
        self.config = config
        weights = [1.0 / (rank + 1) ** config.zipf for rank in range(len(POSITIVE_ADJ))]
        self.pos_weights = weights
        self.neg_weights = [1.0 / (rank + 1) ** config.zipf for rank in range(len(NEGATIVE_ADJ))]

    def adjective(self, polarity: int) -> str:
        if polarity > 0:
            return self.rng.choices(POSITIVE_ADJ, weights=self.pos_weights)[0]
        return self.rng.choices(NEGATIVE_ADJ, weights=self.neg_weights)[0]

    def noun_phrase(self) -> tuple[str, bool]:
        """'<determiner> <noun>' and whether it is plural."""
        noun, plural = self.rng.choice(SUBJECTS)
        det = self.rng.choice(PLURAL_DETERMINERS if plural else DETERMINERS)
        return f"{det} {noun}", plural

    def subject(self) -> tuple[str, str]:
        """A subject phrase and its present- or past-tense form of "to be"."""
        phrase, plural = self.noun_phrase()
        past = self.rng.random() < 0.7
        be = ("were" if past else "are") if plural else ("was" if past else "is")
        if not plural and self.rng.random() < 0.15:
            return "it", be
        return phrase, be

    def adj_clause(self, polarity: int) -> str:
        """'<subject> <be> [negation] [intensifier] <adjective>' with the given polarity."""
        subject, be = self.subject()
        negated = self.rng.random() < self.config.negation
        adj = self.adjective(-polarity if negated else polarity)
        if negated:
            intens = self.rng.choice(NEGATED_INTENSIFIERS) if self.rng.random() < 0.15 else ""
        else:
            intens = self.rng.choice(INTENSIFIERS) if self.rng.random() < 0.35 else ""
        intens += " " if intens else ""
        verb = self.rng.choice(BE_NEGATIONS).format(be=be) if negated else be
        return f"{subject} {verb} {intens}{adj}"

    def verb_clause(self, polarity: int) -> str:
        """'<someone> [negation] <verb> <object>' with the given polarity."""
        who, singular = self.rng.choice(VERB_SUBJECTS)
        negated = self.rng.random() < self.config.negation
        verbs = POSITIVE_VERBS if (polarity > 0) != negated else NEGATIVE_VERBS
        past, base = self.rng.choice(verbs)
        do = "does" if singular else "do"
        verb = self.rng.choice(VERB_NEGATIONS).format(base=base, past=past, do=do)
        obj = "it" if self.rng.random() < 0.4 else self.noun_phrase()[0]
        return f"{who} {verb if negated else past} {obj}"

    def clause(self, polarity: int, verdict: bool = True) -> str:
        """A clause of the given polarity; stock verdicts only where grammatical."""
        roll = self.rng.random()
        if roll < 0.65:
            return self.adj_clause(polarity)
        if roll < 0.9 or not verdict:
            return self.verb_clause(polarity)
        return self.rng.choice(POSITIVE_VERDICTS if polarity > 0 else NEGATIVE_VERDICTS)

    def sentence(self) -> Example:
        cfg = self.config
        rng = self.rng
        roll = rng.random()
        label = rng.randrange(2)
        pol = 1 if label == 1 else -1
        if roll < cfg.mixed:
            # Praise and criticism in one breath: no clear label, so the label is a coin flip.
            a, b = self.adj_clause(pol), self.adj_clause(-pol)
            text = f"{a} and {b}" if rng.random() < 0.5 else f"{a}, while {b}"
            label = rng.randrange(2)
        elif roll < cfg.mixed + cfg.neutral:
            subject, be = self.subject()
            text = f"{subject} {be} {rng.choice(NEUTRAL_ADJ)}"
            label = rng.randrange(2)
        elif roll < cfg.mixed + cfg.neutral + cfg.contrast:
            # The label follows the main clause, which is not always the first one.
            form = rng.choices(range(4), weights=cfg.forms)[0]
            # Concessives ("although", "even though") always oppose their main clause.
            other = pol if form in (0, 3) and rng.random() < cfg.agree else -pol
            main, sub = self.clause(pol), self.clause(other, verdict=form in (0, 3))
            if form == 0:
                text = f"{sub}, but {main}"
            elif form == 1:
                text = f"although {sub}, {main}"
            elif form == 2:
                text = f"{main}, even though {sub}"
            else:
                text = f"{sub}. however, {main}"
        else:
            text = self.clause(pol)
            if rng.random() < 0.2:
                verdict = rng.choice(POSITIVE_VERDICTS if pol > 0 else NEGATIVE_VERDICTS)
                text = f"{text}. {verdict}"
        if rng.random() < 0.2:
            text = f"{rng.choice(OPENERS)} {text}"
        return self.surface(text + rng.choice(ENDINGS)), label

    def surface(self, text: str) -> str:
        """Casing variation as people type; the tokenizer lowercases it all again."""
        roll = self.rng.random()
        if roll < 0.2:
            return text[:1].upper() + text[1:]
        if roll < 0.25:
            return text.upper()
        if roll < 0.3:
            return text.title()
        return text


def add_markup(rng: random.Random, text: str) -> str:
    """Web-scrape debris (HTML tags, entities, doubled spaces) as found in raw reviews."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randint(0, len(words)), rng.choice(MARKUP))
    return ("  " if rng.random() < 0.3 else " ").join(words)


TAG_RE = re.compile(r"<[^>]+>")


def clean_text(text: str) -> str:
    """v1.1.0's preprocessing: strip HTML tags and entities, collapse whitespace.

    Applied to the evaluation text too, where it must be a no-op (checked), so the one
    ``eval.npz`` is exactly what either version's pipeline would feed the model.
    """
    text = TAG_RE.sub(" ", html.unescape(text)).replace('"', " ")
    return " ".join(text.split())


def dedup_key(text: str) -> str:
    return " ".join(clean_text(text).lower().split())


def flip_noise(rng: random.Random, label: int) -> int:
    return 1 - label if rng.random() < LABEL_NOISE else label


ADJ_RE = re.compile(
    r"\b(" + "|".join(re.escape(a) for a in POSITIVE_ADJ + NEGATIVE_ADJ) + r")\b", re.IGNORECASE
)


def synonym_swap(rng: random.Random, text: str) -> str:
    """Replace each sentiment adjective with a random one of the same polarity."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        return rng.choice(POSITIVE_ADJ if word in POSITIVE_ADJ else NEGATIVE_ADJ)

    return ADJ_RE.sub(swap, text)


@dataclass
class Corpus:
    eval: list[Example]
    train: dict[str, list[Example]]  # version -> training examples
    stats: dict[str, int]


def sample_eval(natural: Generator) -> tuple[list[Example], set[str]]:
    """Held-out evaluation set: unique sentences of the natural distribution, clean text."""
    eval_set: list[Example] = []
    keys: set[str] = set()
    while len(eval_set) < N_EVAL:
        text, label = natural.sentence()
        key = dedup_key(text)
        if key in keys:
            continue
        if clean_text(text) != text:
            raise AssertionError(f"evaluation text is not clean: {text!r}")
        keys.add(key)
        eval_set.append((text, label))
    return eval_set, keys


def sample_base(
    natural: Generator, noise_rng: random.Random, eval_keys: set[str]
) -> tuple[list[Example], int]:
    """v1.0.0's raw training set and how many eval sentences it had to skip.

    Same distribution as the eval set but never one of its sentences; duplicates allowed
    (as in scraped data), some markup debris and label noise.
    """
    base: list[Example] = []
    skipped = 0
    while len(base) < N_TRAIN_BASE:
        text, label = natural.sentence()
        if dedup_key(text) in eval_keys:
            skipped += 1
            continue
        if noise_rng.random() < MARKUP_NOISE:
            text = add_markup(noise_rng, text)
        base.append((text, flip_noise(noise_rng, label)))
    return base, skipped


def clean_base(base: Sequence[Example]) -> tuple[list[Example], set[str], int]:
    """v1.1.0's preprocessing of the base set.

    Cleans the text, merges duplicates by majority label and drops those whose labels
    tie. Returns the cleaned examples, the keys of all base sentences and the tie count.
    """
    votes: dict[str, Counter[int]] = defaultdict(Counter)
    first_text: dict[str, str] = {}
    for text, label in base:
        key = dedup_key(text)
        votes[key][label] += 1
        first_text.setdefault(key, clean_text(text))
    cleaned: list[Example] = []
    ties = 0
    for key, counter in votes.items():
        (top, top_n), *rest = counter.most_common()
        if rest and rest[0][1] == top_n:
            ties += 1
            continue
        cleaned.append((first_text[key], top))
    return cleaned, set(votes), ties


def augment(
    cleaned: Sequence[Example],
    count: int,
    *,
    seen: set[str],
    rng: random.Random,
    templates: Generator,
    noise_rng: random.Random,
) -> tuple[list[Example], int]:
    """v1.1.0's augmentation: ``count`` new sentences and how many are synonym swaps.

    Alternates synonym swaps of cleaned base sentences (uniform over the whole adjective
    lexicon) and new sentences from the negation/contrast-heavy templates; skips any
    sentence in ``seen`` (base and eval sentences), which it extends.
    """
    augmented: list[Example] = []
    n_swaps = 0
    while len(augmented) < count:
        swapped = len(augmented) % 2 == 0
        if swapped:
            text, label = rng.choice(cleaned)
            text = synonym_swap(rng, text)
        else:
            text, label = templates.sentence()
            label = flip_noise(noise_rng, label)
        key = dedup_key(text)
        if key in seen:
            continue
        seen.add(key)
        augmented.append((text, label))
        n_swaps += swapped
    return augmented, n_swaps


def build_corpus(seed: int) -> Corpus:
    rng = random.Random(seed)
    natural = Generator(random.Random(rng.getrandbits(64)), NATURAL)
    negation_heavy = Generator(random.Random(rng.getrandbits(64)), NEGATION_HEAVY)
    noise_rng = random.Random(rng.getrandbits(64))
    aug_rng = random.Random(rng.getrandbits(64))

    eval_set, eval_keys = sample_eval(natural)
    base, skipped = sample_base(natural, noise_rng, eval_keys)
    cleaned, base_keys, ties = clean_base(base)
    n_aug = round(AUGMENT_FACTOR * N_TRAIN_BASE) - len(cleaned)
    augmented, n_swaps = augment(
        cleaned,
        n_aug,
        seen=base_keys | eval_keys,
        rng=aug_rng,
        templates=negation_heavy,
        noise_rng=noise_rng,
    )
    v11 = cleaned + augmented
    aug_rng.shuffle(v11)

    adj_counts = Counter(m.lower() for t, _ in base for m in ADJ_RE.findall(t))
    stats = {
        "eval": len(eval_set),
        "base_raw": len(base),
        "base_unique": len(base_keys),
        "base_with_markup": sum(1 for t, _ in base if clean_text(t) != t),
        "base_ties_dropped": ties,
        "base_rare_adjectives": sum(1 for a in POSITIVE_ADJ + NEGATIVE_ADJ if adj_counts[a] < 5),
        "eval_overlap_skipped": skipped,
        "v11_cleaned": len(cleaned),
        "v11_synonym_swaps": n_swaps,
        "v11_negation_templates": len(augmented) - n_swaps,
        "v11_total": len(v11),
    }
    return Corpus(eval=eval_set, train={"1.0.0": base, "1.1.0": v11}, stats=stats)


# ------------------------------------------------------------------------ tokenizer


def learn_wordpiece_vocab(words: Counter[str]) -> list[str]:
    """WordPiece vocabulary by BPE merges, as ``tokenizers.trainers.WordPieceTrainer`` does.

    Same algorithm as the library's trainer (start from the characters, word-internal
    ones with the ``##`` prefix, repeatedly merge the most frequent adjacent pair while
    it occurs at least twice, up to ``VOCAB_SIZE``), but with a stable tie-break: among
    equally frequent pairs the lexicographically smallest wins. The library's trainer
    breaks such ties by pair ids that it assigns in Rust ``HashMap`` iteration order,
    which is randomly seeded per process, so two runs on the same text give different
    vocabularies, and with them different models.
    """
    splits = {w: [w[0], *(f"##{c}" for c in w[1:])] for w in sorted(words)}
    vocab = list(SPECIAL_TOKENS) + sorted({sym for syms in splits.values() for sym in syms})
    known = set(vocab)
    while len(vocab) < VOCAB_SIZE:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, syms in splits.items():
            for pair in itertools.pairwise(syms):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < 2:
            break
        left, right = best
        merged = left + right.removeprefix("##")
        for word, syms in splits.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == left and syms[i + 1] == right:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            splits[word] = out
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
    return vocab


def train_tokenizer(texts: Sequence[str]) -> Tokenizer:
    """A BERT-style WordPiece tokenizer (``tokenizers`` library) learnt from ``texts``."""
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=True, lowercase=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        normalized = normalizer.normalize_str(text)
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalized))
    vocab = learn_wordpiece_vocab(words)
    tok = Tokenizer(
        WordPiece(
            {token: i for i, token in enumerate(vocab)},
            unk_token="[UNK]",
            max_input_chars_per_word=100,
        )
    )
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tok.enable_truncation(max_length=MAX_LEN)
    tok.enable_padding(length=MAX_LEN, pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    if [tok.token_to_id(t) for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        raise AssertionError("special tokens must have the first ids, [PAD] = 0")
    return tok


def encode(tok: Tokenizer, texts: Sequence[str]) -> tuple[IntArray, IntArray, int]:
    """Token ids and attention mask [N, MAX_LEN], and how many texts were truncated."""
    encodings = tok.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    truncated = sum(1 for e in encodings if e.overflowing)
    return ids, mask, truncated


# ---------------------------------------------------------------------------- model


class EncoderLayer(nn.Module):
    """One post-LN transformer layer, as in BERT: self-attention, then a GELU MLP."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask_bias: Tensor) -> Tensor:
        batch, seq, hidden = x.shape
        qkv: Tensor = self.qkv(x)
        q, k, v = qkv.reshape(batch, seq, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
        probs: Tensor = self.dropout(torch.softmax(scores, dim=-1))
        context = (probs @ v).transpose(1, 2).reshape(batch, seq, hidden)
        attn: Tensor = self.dropout(self.out(context))
        x = self.attn_norm(x + attn)
        inner = nn.functional.gelu(self.ffn_in(x))
        mlp: Tensor = self.dropout(self.ffn_out(inner))
        y: Tensor = self.ffn_norm(x + mlp)
        return y


class BertClassifier(nn.Module):
    """Token + position embeddings, encoder layers, [CLS] pooler and a linear head."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.token_embeddings = nn.Embedding(vocab_size, HIDDEN, padding_idx=0)
        self.position_embeddings = nn.Embedding(MAX_LEN, HIDDEN)
        self.embed_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(DROPOUT)
        self.layers = nn.ModuleList(
            [EncoderLayer(HIDDEN, HEADS, FFN, DROPOUT) for _ in range(LAYERS)]
        )
        self.pooler = nn.Linear(HIDDEN, HIDDEN)
        self.classifier = nn.Linear(HIDDEN, len(LABELS))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x: Tensor = self.token_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.dropout(self.embed_norm(x))
        # 0 where a token may be attended to, a large negative number on padding.
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        logits: Tensor = self.classifier(self.dropout(pooled))
        return logits


def batches(n: int, size: int, gen: torch.Generator) -> Iterator[Tensor]:
    order = torch.randperm(n, generator=gen)
    for start in range(0, n, size):
        yield order[start : start + size]


def train_model(
    ids: IntArray,
    mask: IntArray,
    labels: IntArray,
    *,
    vocab_size: int,
    seed: int,
    log: Callable[[str], None],
) -> BertClassifier:
    torch.manual_seed(seed)  # same initial weights and dropout stream for every version
    model = BertClassifier(vocab_size)
    x_ids, x_mask, y = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels)
    n = len(y)
    steps = EPOCHS * math.ceil(n / BATCH)
    warmup = max(1, int(WARMUP * steps))
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "norm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=LR,
    )

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(EPOCHS):
        total, count = 0.0, 0
        for index in batches(n, BATCH, gen):
            b_mask = x_mask[index]
            width = int(b_mask.sum(dim=1).max())  # trim padding columns to the longest row
            logits = model(x_ids[index, :width], b_mask[:, :width])
            loss: Tensor = loss_fn(logits, y[index])
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
        log(f"    epoch {epoch + 1}/{EPOCHS}: train loss {total / count:.4f}")
    model.eval()  # returns the module, typed Any when torch's stubs are absent (CI)
    return model


# --------------------------------------------------------------------------- export


def export_onnx(model: BertClassifier, example: tuple[Tensor, Tensor], version: str) -> bytes:
    proto = export_classifier(model, example, max_len=MAX_LEN, opset=OPSET)
    proto.graph.name = MODEL_NAME
    proto.doc_string = f"{MODEL_NAME} {version}: synthetic-data English sentiment classifier"
    for key, value in (
        ("name", MODEL_NAME),
        ("version", version),
        ("labels", ",".join(LABELS)),
        ("max_sequence_length", str(MAX_LEN)),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    data: bytes = proto.SerializeToString(deterministic=True)
    return data


def onnx_logits(model_bytes: bytes, ids: IntArray, mask: IntArray) -> npt.NDArray[np.float32]:
    """Run the model in a single-threaded onnxruntime CPU session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    if logits.dtype != np.float32 or logits.shape != (len(ids), len(LABELS)):
        raise AssertionError(f"unexpected logits {logits.dtype} {logits.shape}")
    result: npt.NDArray[np.float32] = logits
    return result


# ---------------------------------------------------------------------------- files


def npz_bytes(arrays: dict[str, IntArray]) -> bytes:
    """Like ``np.savez`` but byte-reproducible: fixed member timestamps and modes.

    ``np.savez`` stamps every member with the current time, so two runs differ.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def data_md(corpus: Corpus, seed: int, vocab: int, accuracies: dict[str, float]) -> str:
    s = corpus.stats
    eval_pos = sum(label for _, label in corpus.eval)
    samples = "\n".join(f"| {label} | `{text}` |" for text, label in corpus.eval[:8])
    acc = "\n".join(f"| {v} | {accuracies[v]:.4f} |" for v in VERSIONS)
    v10_what = (
        f"raw base set: {s['base_unique']} distinct sentences (the rest are duplicates), "
        f"{s['base_with_markup']} with HTML markup debris, {LABEL_NOISE:.0%} of labels flipped"
    )
    v11_what = (
        f"the base set cleaned ({s['v11_cleaned']} sentences) + {s['v11_synonym_swaps']} "
        f"synonym swaps + {s['v11_negation_templates']} extra negation/contrast templates"
    )
    return f"""# Example model data: `{MODEL_NAME}`

Generated by `scripts/build_example_models.py --seed {seed}`. Everything here is
**synthetic**: no public data set and no pretrained weight was used or downloaded.

## Corpus

Short English product/movie review sentences generated from templates and small
vocabularies with a fixed seed: `<subject> <be> [intensifier] <adjective>` clauses,
`<someone> <verb> <object>` clauses and stock verdicts ("worth every penny"), with

* negation that flips the polarity ("was not good", "wasn't bad", "never liked it",
  "far from perfect", "anything but dull"); a double negative such as "not bad"
  is labelled positive;
* two-clause contrasts whose label follows the main clause, which can come first
  or second ("the plot was dull, but the acting was superb" is positive,
  "i loved it, even though the ending was weak" is positive);
* casing variation, openers ("honestly,") and varied end punctuation;
* ambiguity: about {NATURAL.mixed:.0%} mixed sentences ("... was great and ... was awful")
  and {NATURAL.neutral:.0%} neutral ones ("... was okay") carry a random label, so no model
  reaches 100%.

The lexicon has {len(POSITIVE_ADJ)} positive and {len(NEGATIVE_ADJ)} negative adjectives, drawn
with Zipf weights (exponent {NATURAL.zipf}): the long tail ("abysmal", "sublime", ...) is rare,
and {s["base_rare_adjectives"]} adjectives occur fewer than 5 times in the base training set.
Clauses are negated with probability {NATURAL.negation:.0%}; {NATURAL.contrast:.0%} of sentences
are two-clause contrasts ("but"/"however" clauses agree in {NATURAL.agree:.0%} of them,
concessive "although"/"even though" clauses always oppose the main clause).

## Labels

| index | label |
| --- | --- |
| 0 | `negative` |
| 1 | `positive` |

## Evaluation set (`eval.npz`, shared by both versions)

{s["eval"]} unique sentences of the same distribution as the base training set
({eval_pos} positive, {s["eval"] - eval_pos} negative), no label noise beyond the built-in
ambiguity, and no sentence that also occurs in any training set (compared after
lowercasing and whitespace/markup cleanup). Arrays: `input_ids` int64 [{s["eval"]}, {MAX_LEN}],
`attention_mask` int64 [{s["eval"]}, {MAX_LEN}], `labels` int64 [{s["eval"]}], made with
`tokenizer.json` (padded/truncated to {MAX_LEN} tokens, `[CLS] ... [SEP]`).
The text is clean, so v1.1.0's markup cleanup leaves it unchanged and the same arrays
are what each version's own pipeline produces.

| label | first sentences |
| --- | --- |
{samples}

## Tokenizer (`tokenizer.json`)

A `tokenizers` WordPiece tokenizer with {vocab} tokens (`[PAD]`=0, `[UNK]`, `[CLS]`, `[SEP]`,
`[MASK]` first), learnt from the training text of both versions (never from the
evaluation text). The vocabulary is learnt by the script with the same BPE-merge
algorithm as the library's `WordPieceTrainer` but a stable tie-break, because the
library's trainer gives a different vocabulary on every run. Normalisation is BERT's:
lowercasing, accent stripping, control-character cleanup, splitting on whitespace and
punctuation. It is shared by both versions and applied identically at training and
evaluation time.

## Training sets per version

| version | sentences | what it is |
| --- | --- | --- |
| 1.0.0 | {s["base_raw"]} | {v10_what} |
| 1.1.0 | {s["v11_total"]} | {v11_what} |

What differs in 1.1.0 ("data augmentation and improved preprocessing"):

* **preprocessing**: HTML tags and entities stripped, whitespace collapsed,
  duplicates merged by majority label ({s["base_ties_dropped"]} ties dropped);
* **synonym swaps**: cleaned base sentences with each sentiment adjective replaced by
  a random adjective of the same polarity, drawn uniformly from the whole lexicon;
* **extra negation templates**: new sentences from a sampler with
  {NEGATION_HEAVY.negation:.0%} negation and {NEGATION_HEAVY.contrast:.0%} contrasts
  (natural rates: {NATURAL.negation:.0%} and {NATURAL.contrast:.0%}), uniform adjectives,
  no ambiguous sentences, and the same {LABEL_NOISE:.0%} label noise;
* {AUGMENT_FACTOR}x the training sentences of 1.0.0 in total.

The gain of 1.1.0 is the effect of all of these together (no ablation), measured on
one seed.

## Model

BERT-style encoder trained from random initialisation: token and position embeddings
({HIDDEN} wide), {LAYERS} post-LN transformer layers ({HEADS} heads, feed-forward {FFN}), masked
self-attention, tanh pooler on `[CLS]`, linear head; dropout {DROPOUT}. Inputs `input_ids` and
`attention_mask` int64 [batch, sequence] (sequence at most {MAX_LEN}), output `logits`
float32 [batch, 2]. Hyperparameters ({EPOCHS} epochs, batch {BATCH}, AdamW lr {LR} with
warm-up and linear decay, weight decay {WEIGHT_DECAY}) and the initial weights are the same
for both versions. ONNX opset {OPSET}, exported with torch's `torch.export`-based exporter.

## Accuracy on the evaluation set (onnxruntime, CPU)

| version | accuracy |
| --- | --- |
{acc}
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output directory (default: {DEFAULT_OUT} under the repository root)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    return parser.parse_args(argv)


def make_deterministic(seed: int) -> None:
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set if torch did parallel work
        torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out if args.out is not None else REPO_ROOT / DEFAULT_OUT
    seed: int = args.seed
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    make_deterministic(seed)
    log("building the synthetic corpus")
    corpus = build_corpus(seed)
    for key, value in corpus.stats.items():
        log(f"    {key}: {value}")

    log("learning the WordPiece tokenizer")
    tokenizer = train_tokenizer([t for v in VERSIONS for t, _ in corpus.train[v]])
    vocab = tokenizer.get_vocab_size()
    eval_ids, eval_mask, eval_truncated = encode(tokenizer, [t for t, _ in corpus.eval])
    eval_labels = np.array([label for _, label in corpus.eval], dtype=np.int64)
    if eval_truncated:
        raise AssertionError(f"{eval_truncated} evaluation sentences exceed {MAX_LEN} tokens")
    log(f"    vocabulary {vocab}, eval {eval_ids.shape}")

    files: dict[str, bytes] = {}
    accuracies: dict[str, float] = {}
    example = (torch.from_numpy(eval_ids[:2]), torch.from_numpy(eval_mask[:2]))
    for version in VERSIONS:
        train = corpus.train[version]
        ids, mask, truncated = encode(tokenizer, [t for t, _ in train])
        labels = np.array([label for _, label in train], dtype=np.int64)
        log(f"training {MODEL_NAME} {version} on {len(train)} sentences ({truncated} truncated)")
        model = train_model(ids, mask, labels, vocab_size=vocab, seed=seed, log=log)
        log(f"exporting {MODEL_NAME} {version} to ONNX")
        data = export_onnx(model, example, version)
        with torch.no_grad():
            torch_logits = model(torch.from_numpy(eval_ids), torch.from_numpy(eval_mask))
        ort_logits = onnx_logits(data, eval_ids, eval_mask)
        diff = float(np.abs(ort_logits - torch_logits.numpy()).max())
        if diff > 1e-4:
            raise AssertionError(f"onnxruntime and torch logits differ by {diff}")
        accuracies[version] = float(np.mean(ort_logits.argmax(axis=1) == eval_labels))
        log(
            f"    eval accuracy (onnxruntime): {accuracies[version]:.4f}, "
            f"max |onnxruntime - torch| logit difference {diff:.1e}"
        )
        files[f"{MODEL_NAME}-{version}.onnx"] = data

    files["tokenizer.json"] = tokenizer.to_str(pretty=True).encode()
    files["eval.npz"] = npz_bytes(
        {"input_ids": eval_ids, "attention_mask": eval_mask, "labels": eval_labels}
    )
    files["DATA.md"] = data_md(corpus, seed, vocab, accuracies).encode()
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)

    print(f"\nwrote {display(out)} in {time.monotonic() - started:.0f}s:", file=sys.stderr)
    for name, data in sorted(files.items()):
        print(f"  {name:28} {len(data):>9} bytes  sha256 {sha256(data)}", file=sys.stderr)
    for version in VERSIONS:
        print(
            f"  accuracy {version} on eval (onnxruntime): {accuracies[version]:.4f}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
