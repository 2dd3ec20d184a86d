r"""Generated token sequences against references: exact match and corpus BLEU-1..4.

**Exact match**: the fraction of hypotheses equal, token for token, to one of their references.

**Corpus BLEU** (Papineni, Roukos, Ward & Zhu 2002), for hypotheses ĉ_i with references
{r_i1, r_i2, ...}: the modified n-gram precision sums, over the corpus, each hypothesis
n-gram's count clipped by its largest count in one reference::

    p_n = Σ_i Σ_{g ∈ n-grams(ĉ_i)} min(count_ĉ_i(g), max_j count_r_ij(g)) / Σ_i |n-grams(ĉ_i)|
    BP  = 1 if c > r else exp(1 − r/c)      c = Σ_i |ĉ_i|, r = Σ_i |the reference closest in length to ĉ_i|
                                            (ties: the shorter reference)
    BLEU-N = BP · exp(Σ_{n=1..N} (1/N) log p_n)      (0 when some p_n = 0: no smoothing)

— the cumulative BLEU-1..4 of the captioning papers (Vinyals et al. 2015, Xu et al. 2015) and
of NLTK's ``corpus_bleu`` with uniform weights; ``tests/test_captioning.py`` checks it
against the values published with the paper's examples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from .errors import BoucleError

__all__ = ["exact_match", "corpus_bleu", "bleu_scores"]


def _check(hypotheses: Sequence, references: Sequence) -> None:
    if len(hypotheses) != len(references):
        raise BoucleError(
            f"references: expected one list of references per hypothesis ({len(hypotheses)}), got {len(references)}"
        )
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not isinstance(refs, (list, tuple)) or not refs:
            raise BoucleError(f"references[{i}]: expected a non-empty list of token lists, got {refs!r:.60}")
        if any(isinstance(r, str) for r in refs):
            raise BoucleError(f"references[{i}]: expected token lists (split texts), got a string")
    if any(isinstance(h, str) for h in hypotheses):
        raise BoucleError("hypotheses: expected token lists (split texts), got a string")


def exact_match(hypotheses: Sequence[Sequence], references: Sequence[Sequence[Sequence]]) -> float:
    """Fraction of hypotheses (token lists) equal to one of their references (token lists)."""
    _check(hypotheses, references)
    if not hypotheses:
        raise BoucleError("hypotheses: expected at least one hypothesis, got none")
    hits = sum(any(list(h) == list(r) for r in refs) for h, refs in zip(hypotheses, references))
    return hits / len(hypotheses)


def _ngrams(tokens: Sequence, n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _statistics(hypotheses, references, max_n: int) -> tuple[list[int], list[int], int, int]:
    """Clipped matches and totals per order, hypothesis length c and closest reference length r."""
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for hyp, refs in zip(hypotheses, references):
        hyp = list(hyp)
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for ref in refs:
                best |= _ngrams(list(ref), n)  # max count of each n-gram in one reference
            matches[n - 1] += sum(min(k, best[g]) for g, k in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
        c += len(hyp)
        r += min((len(ref) for ref in refs), key=lambda L: (abs(L - len(hyp)), L))
    return matches, totals, c, r


def corpus_bleu(hypotheses: Sequence[Sequence], references: Sequence[Sequence[Sequence]], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` of token-list hypotheses against their lists of token-list references."""
    return bleu_scores(hypotheses, references, max_n)[f"bleu_{max_n}"]


def bleu_scores(
    hypotheses: Sequence[Sequence], references: Sequence[Sequence[Sequence]], max_n: int = 4
) -> dict[str, float]:
    """``{"bleu_1": ..., "bleu_<max_n>": ...}``: the cumulative corpus BLEU of every order up to ``max_n``."""
    _check(hypotheses, references)
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise BoucleError(f"max_n: expected an int >= 1, got {max_n!r}")
    matches, totals, c, r = _statistics(hypotheses, references, max_n)
    bp = 0.0 if c == 0 else (1.0 if c > r else math.exp(1.0 - r / c))
    out, log_sum = {}, 0.0
    for n in range(1, max_n + 1):
        m, t = matches[n - 1], totals[n - 1]
        if m == 0 or log_sum == -math.inf:
            log_sum = -math.inf
            out[f"bleu_{n}"] = 0.0
            continue
        log_sum += math.log(m / t)
        out[f"bleu_{n}"] = bp * math.exp(log_sum / n)
    return out
