"""Decoding: greedy, sampled and beam search over a step function.

Every search drives one function the caller supplies, the *step*::

    logits, new_state = step(tokens, state)      # tokens (R,) int64 -> logits (R, V)

``logits`` score the ``V`` tokens of the next position for each of the ``R`` rows:
log-probabilities or unnormalised logits (the searches take a log-softmax wherever they
add scores up, so both work). ``state`` is whatever the step carries: None, an array or
a (nested) tuple of arrays. Nothing here knows about language models; a translation
decoder, a language model and a lookup table are all steps.

Greedy and sampled search keep one row per sequence (``R = B``)::

    logits, s = step(start_tokens, s_0)          # or first_logits, after a prompt
    for t in 0 .. max_len-1:
        y_t    = choose(logits)                  # argmax, or a draw (temperature, top-k)
        score += log_softmax(logits)[y_t]        # the model's log-probability of y_t
        a row that produced end_token is finished: later positions repeat end_token
        logits, s = step(y_t, s)                 # skipped after the last position

Beam search keeps ``K = beam_size`` hypotheses per sequence (``R = B*K``, row
``b*K + k``; before the first expansion ``R = B``)::

    cand[b, k, v] = score[b, k] + log_softmax(logits[b*K + k])[v]        # (B, K, V)
    visit the best 2K candidates of each b by score (ties: lower k, then lower v):
        v == end_token -> a finished hypothesis, ranked by raw / lp(length),
                          lp(n) = n ** alpha, or ((5 + n) / 6) ** alpha (Wu et al. 2016)
        otherwise      -> a beam, until K are kept; the state rows follow their parents
    at max_len every beam is finished. A sequence stops early once it has K finished
    hypotheses that all rank at least as high as any beam still could.

Beam search reorders state rows with :func:`select_rows` along ``state_axis`` (default
1: rnnkit's recurrent states are ``(num_layers, B, H)``), or with the caller's
``select_state(state, rows)``. Lengths count the end token; positions past a length
hold ``end_token``.

A step may also return a third value, one row per token row (a translator's attention
weights ``(R, S)``): every search then keeps it per position of every hypothesis, in
``aux`` of the result, following the beams as they are reordered.

:func:`sample_search` draws every token with :func:`rnnkit.sampling.sample_next`
(``softmax(logits / temperature)`` over the ``top_k`` largest logits, inverse-CDF on a
seeded ``numpy.random.Generator``); ``temperature=0`` is greedy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import log_softmax
from rnnkit.sampling import check_banned, check_rng, check_sampling_args, draw


@dataclass(frozen=True)
class Decoded:
    """One decoded sequence per row.

    tokens : int64 (B, L), past each length filled with ``end_token``
    lengths : int64 (B,), counting the end token
    log_probs : float64 (B,), the sum of the model's log-probabilities of the tokens
    aux : (B, L, ...) or None, what the step returned as a third value at each position
        (e.g. attention weights (R, S): ``aux[b, t]`` are those that produced ``tokens[b, t]``)
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    aux: np.ndarray | None = None


@dataclass(frozen=True)
class Beams:
    """The ``N = num_return`` best hypotheses of each sequence, best first.

    tokens : int64 (B, N, L), past each length filled with ``end_token`` (or 0)
    lengths : int64 (B, N); 0 where fewer than N hypotheses exist
    log_probs : float64 (B, N), sums of log-probabilities (-inf where none exists)
    scores : float64 (B, N), ``log_probs / lp(lengths)``, the ranking (see :func:`beam_search`)
    aux : (B, N, L, ...) or None, as :attr:`Decoded.aux`, for each hypothesis
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    scores: np.ndarray
    aux: np.ndarray | None = None

    def best(self) -> Decoded:
        """The top hypothesis of each sequence as a :class:`Decoded`."""
        lengths = self.lengths[:, 0]
        L = max(int(lengths.max()), 1)
        return Decoded(self.tokens[:, 0, :L], lengths, self.log_probs[:, 0],
                       None if self.aux is None else self.aux[:, 0, :L])


# ----------------------------------------------------------------------------- state rows

def select_rows(state, rows, axis: int = 1):
    """Take ``rows`` along ``axis`` of every array in ``state`` (None, array, nested tuple).

    ``select_rows((h, c), [0, 0, 1])`` repeats row 0 of ``h (L, B, H)`` and ``c``.
    """
    if state is None:
        return None
    if isinstance(state, np.ndarray):
        if not -state.ndim <= axis < state.ndim:
            raise InputError(f"state_axis={axis} is out of range for a state array of shape "
                             f"{state.shape}; set state_axis to the batch axis or pass "
                             f"select_state")
        return np.take(state, rows, axis=axis)
    if isinstance(state, (tuple, list)):
        parts = [select_rows(part, rows, axis) for part in state]
        return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)
    raise InputTypeError(f"state must be None, an ndarray or a (nested) tuple of ndarrays to select "
                         f"beams from, got {type(state).__name__}; pass select_state(state, rows)")


def _state_selector(select_state, state_axis):
    if select_state is not None:
        if not callable(select_state):
            raise InputTypeError("select_state must be callable as select_state(state, rows)")
        return select_state
    axis = check_scalar(state_axis, "state_axis", int)
    return lambda state, rows: select_rows(state, rows, axis)


# ----------------------------------------------------------------------------- checks

def _check_logits(logits, rows: int, vocab_size: int | None = None) -> np.ndarray:
    """A float64 copy of the step's logits, checked to be (rows, V) and usable."""
    z = np.array(logits, dtype=np.float64)
    want = f"(R={rows}, V{'' if vocab_size is None else f'={vocab_size}'})"
    if z.ndim != 2 or z.shape[0] != rows or z.shape[1] == 0 or (
            vocab_size is not None and z.shape[1] != vocab_size):
        raise InputError(f"step must return logits of shape {want}, got {np.shape(logits)}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise InputError("step returned NaN or +inf logits")
    if not np.isfinite(z).any(axis=1).all():
        raise InputError("step returned a row of logits that are all -inf")
    return z


def _call(step, tokens, state, vocab_size):
    """``(logits, new_state, aux)``: a step returns ``(logits, new_state)`` or, to have the
    searches keep something per position (attention weights), ``(logits, new_state, aux)``
    with ``aux`` an array of one row per token row."""
    out = step(tokens, state)
    if not (isinstance(out, tuple) and len(out) in (2, 3)):
        raise InputTypeError("step must return (logits (R, V), new_state) or "
                             "(logits, new_state, aux (R, ...))")
    aux = None
    if len(out) == 3:
        aux = np.asarray(out[2])
        if aux.ndim == 0 or aux.shape[0] != len(tokens):
            raise InputError(f"step's third value must have one row per token row "
                             f"(R={len(tokens)}, ...), got shape {aux.shape}")
    return _check_logits(out[0], len(tokens), vocab_size), out[1], aux


def _first_step(step, start_tokens, state, first_logits):
    """Logits (B, V) of the first position, the state that goes with them and the step's
    aux (None with ``first_logits``)."""
    if not callable(step):
        raise InputTypeError(f"step must be callable as step(tokens, state), got {type(step).__name__}")
    if (start_tokens is None) == (first_logits is None):
        raise InputError("give exactly one of start_tokens (fed to step first) and first_logits "
                         "(the logits of the first position, e.g. after a prompt)")
    if first_logits is not None:
        if np.ndim(first_logits) != 2:
            raise InputError(f"first_logits must have shape (B, V), got {np.shape(first_logits)}")
        return _check_logits(first_logits, np.shape(first_logits)[0]), state, None
    tokens = np.atleast_1d(np.asarray(start_tokens))
    if tokens.dtype.kind not in "iu" or tokens.ndim != 1 or tokens.size == 0 or tokens.min() < 0:
        raise InputTypeError(f"start_tokens must be a non-negative int or a non-empty 1-D integer "
                             f"array (B,), got {start_tokens!r}")
    return _call(step, tokens.astype(np.int64), state, None)


def _check_end_token(end_token, vocab_size):
    return check_scalar(end_token, "end_token", int, low=0, high=vocab_size - 1, none_ok=True)


# ----------------------------------------------------------------------------- one row per sequence

def greedy_search(step, start_tokens, state, max_len: int, *, end_token: int | None = None,
                  first_logits=None) -> Decoded:
    """The most likely token at every position (see the module docstring).

    Parameters
    ----------
    step : callable ``step(tokens (B,), state) -> (logits (B, V), new_state)``
    start_tokens : int or int array (B,), or None with ``first_logits``
        Fed to ``step`` first (e.g. ``<bos>``).
    state : whatever ``step`` takes with ``start_tokens`` (None, array, tuple)
    max_len : int >= 1
        Tokens to produce per row (fewer when every row has ended).
    end_token : int in [0, V) or None
        A row that produces it is finished.
    first_logits : array (B, V), optional
        The first position's logits when the caller has already run the model (over a
        prompt); ``state`` is then the state after the prompt.
    """
    return _token_loop(step, start_tokens, state, max_len, end_token, first_logits,
                       lambda z: z.argmax(axis=1))


def sample_search(step, start_tokens, state, max_len: int, rng: np.random.Generator, *,
                  temperature: float = 1.0, top_k: int | None = None, banned=(),
                  end_token: int | None = None, first_logits=None) -> Decoded:
    """Draw every token with :func:`rnnkit.sampling.sample_next` (see :func:`greedy_search` for the rest).

    ``temperature=0`` (or ``top_k=1``) is :func:`greedy_search` with ``banned`` tokens
    removed; ``log_probs`` are under the model's own distribution (before temperature,
    top-k and bans). The same ``rng`` state gives the same tokens.
    """
    temperature, top_k = check_sampling_args(temperature, top_k)
    check_rng(rng)
    banned_ids = sorted({int(b) for b in banned})
    return _token_loop(step, start_tokens, state, max_len, end_token, first_logits,
                       lambda z: draw(z, rng, temperature, top_k, banned_ids),
                       banned=banned_ids)


def _token_loop(step, start_tokens, state, max_len, end_token, first_logits, choose,
                banned=()) -> Decoded:
    max_len = check_scalar(max_len, "max_len", int, low=1)
    logits, state, aux = _first_step(step, start_tokens, state, first_logits)   # (B, V)
    B, V = logits.shape
    end = _check_end_token(end_token, V)
    if banned and (banned[0] < 0 or banned[-1] >= V):
        raise InputError(f"banned tokens must lie in [0, V={V}), got {list(banned)}")
    check_banned(banned, V)
    rows = np.arange(B)
    tokens = np.empty((B, max_len), np.int64)
    lengths = np.full(B, max_len, np.int64)
    log_probs = np.zeros(B)
    done = np.zeros(B, bool)
    auxes = []                                                      # per position, or empty
    for t in range(max_len):
        if aux is not None:
            auxes.append(aux)
        log_p = log_softmax(logits)                                # before choose edits logits
        y = np.asarray(choose(logits), np.int64)                    # (B,)
        if end is not None:
            y[done] = end
        log_probs += np.where(done, 0.0, log_p[rows, y])
        tokens[:, t] = y
        if end is not None:
            ended = ~done & (y == end)
            lengths[ended] = t + 1
            done |= ended
            if done.all():
                return Decoded(tokens[:, : t + 1], lengths, log_probs, _stack(auxes, t + 1))
        if t + 1 < max_len:
            logits, state, aux = _call(step, y, state, V)
    return Decoded(tokens, lengths, log_probs, _stack(auxes, max_len))


def _stack(auxes, length):
    """The per-position aux arrays (B, ...) as (B, length, ...), or None if the step gave none."""
    return np.stack(auxes, axis=1) if len(auxes) == length else None


# ----------------------------------------------------------------------------- beam search

def beam_search(step, start_tokens, state, beam_size: int, max_len: int, *,
                end_token: int | None = None, length_penalty: float = 0.0,
                length_norm: str = "power", num_return: int = 1, first_logits=None,
                state_axis: int = 1, select_state=None) -> Beams:
    """The ``num_return`` best sequences found with ``beam_size`` beams per sequence.

    Parameters
    ----------
    step, start_tokens, state, max_len, end_token, first_logits : as :func:`greedy_search`;
        ``step`` is called with ``B * beam_size`` rows (``B`` rows the first time).
    beam_size : int >= 1
        Hypotheses kept per sequence; 1 is greedy search. ``beam_size >= V ** (max_len - 1)``
        (without end token) searches every sequence.
    length_penalty : float >= 0
        Hypotheses rank by ``log_prob / lp(length)``; 0 ranks by the total log-probability
        (which favours short hypotheses when there is an end token).
    length_norm : "power" or "wu"
        ``lp(n) = n ** length_penalty``, or Wu et al. (2016)'s
        ``lp(n) = ((5 + n) / 6) ** length_penalty``.
    num_return : int in [1, beam_size]
    state_axis : int
        The batch axis of every array in ``state`` (default 1, as ``(num_layers, B, H)``).
    select_state : callable ``select_state(state, rows) -> state``, optional
        Takes the place of ``select_rows(state, rows, state_axis)``.
    """
    K = check_scalar(beam_size, "beam_size", int, low=1)
    max_len = check_scalar(max_len, "max_len", int, low=1)
    alpha = check_scalar(length_penalty, "length_penalty", float, low=0.0)
    if length_norm not in LENGTH_NORMS:
        raise InputError(f"length_norm must be one of {LENGTH_NORMS}, got {length_norm!r}")
    lp = (lambda n: n ** alpha) if length_norm == "power" else (lambda n: ((5 + n) / 6) ** alpha)
    N = check_scalar(num_return, "num_return", int, low=1, high=K, note=" (<= beam_size)")
    select = _state_selector(select_state, state_axis)
    logits, state, aux = _first_step(step, start_tokens, state, first_logits)   # (B, V)
    B, V = logits.shape
    end = _check_end_token(end_token, V)
    scores = np.zeros((B, 1))                        # (B, k) log-probability of each beam
    history = Hypotheses(np.zeros((B, 1, 0), np.int64), aux is not None)
    finished = [[] for _ in range(B)]                # per sequence: (rank, log_prob, tokens, aux)
    done = np.zeros(B, bool)
    for t in range(max_len):
        cand = scores[:, :, None] + log_softmax(logits).reshape(B, -1, V)     # (B, k, V)
        step_aux = None if aux is None else aux.reshape((B, -1) + aux.shape[1:])  # (B, k, ...)
        parents, tokens, scores = _prune(cand, K, end, t, lp, history, step_aux, finished, done)
        history = history.extend(parents, tokens, step_aux)                       # (B, K, t+1)
        _mark_done(done, scores, finished, K, lp(max_len))
        if done.all():
            break
        if t + 1 == max_len:                         # the beams still alive end here
            for b in np.flatnonzero(~done):
                for k in np.flatnonzero(np.isfinite(scores[b])):
                    raw = scores[b, k]
                    finished[b].append((raw / lp(max_len), raw) + history.of(b, k))
            break
        rows = (np.arange(B)[:, None] * cand.shape[1] + parents).reshape(-1)   # (B*K,)
        logits, state, aux = _call(step, tokens.reshape(-1), select(state, rows), V)
        if aux is None:
            history.keeps_aux = False
    return _collect(finished, N, 0 if end is None else end)


LENGTH_NORMS = ("power", "wu")


class Hypotheses:
    """The tokens (B, k, t) of every beam and, when the step gives it, its aux (B, k, t, ...)."""

    def __init__(self, tokens, keeps_aux: bool, aux=None):
        self.tokens, self.keeps_aux, self.aux = tokens, keeps_aux, aux

    def extend(self, parents, new_tokens, step_aux) -> "Hypotheses":
        """Each of the K new beams: its parent's history plus its token (and aux)."""
        tokens = np.concatenate([np.take_along_axis(self.tokens, parents[:, :, None], axis=1),
                                 new_tokens[:, :, None]], axis=2)
        if not self.keeps_aux or step_aux is None:
            return Hypotheses(tokens, False)
        picked = np.take_along_axis(step_aux, _expand(parents, step_aux.ndim), axis=1)
        aux = picked[:, :, None] if self.aux is None else np.concatenate(
            [np.take_along_axis(self.aux, _expand(parents, self.aux.ndim), axis=1),
             picked[:, :, None]], axis=2)
        return Hypotheses(tokens, True, aux)

    def of(self, b, k, token=None, step_aux=None) -> tuple:
        """``(tokens, aux or None)`` of beam ``k`` of sequence ``b``, optionally extended by
        ``token`` (and its ``step_aux[b, k]``)."""
        tokens, aux = self.tokens[b, k], None
        if self.keeps_aux and (self.aux is not None or step_aux is not None):
            aux = self.aux[b, k] if self.aux is not None else None
        if token is not None:
            tokens = np.append(tokens, token)
            if self.keeps_aux and step_aux is not None:
                row = step_aux[b, k][None]
                aux = row if aux is None else np.concatenate([aux, row])
            else:
                aux = None
        return tokens, aux


def _expand(index, ndim):
    """``index (B, K)`` reshaped to broadcast along the trailing axes of an ndim array."""
    return index.reshape(index.shape + (1,) * (ndim - 2))


def _prune(cand, K, end, t, lp, history, step_aux, finished, done):
    """Pick the next K beams of each sequence from ``cand (B, k, V)``; record endings."""
    B, k, V = cand.shape
    flat = cand.reshape(B, k * V)
    order = np.argsort(-flat, axis=1, kind="stable")[:, : min(2 * K, k * V)]   # best first
    parents = np.zeros((B, K), np.int64)
    tokens = np.full((B, K), 0 if end is None else end, np.int64)
    scores = np.full((B, K), -np.inf)
    for b in np.flatnonzero(~done):
        kept = 0
        for c in order[b]:
            score = flat[b, c]
            if kept == K or score == -np.inf:
                break
            parent, token = divmod(int(c), V)
            if token == end:
                finished[b].append((score / lp(t + 1), score)
                                   + history.of(b, parent, token, step_aux))
            else:
                parents[b, kept], tokens[b, kept], scores[b, kept] = parent, token, score
                kept += 1
    return parents, tokens, scores


def _mark_done(done, scores, finished, K, lp_max) -> None:
    """A sequence is done when K finished hypotheses beat anything its beams could reach.

    Log-probabilities only fall as a beam grows and ``raw / lp(length)`` of a negative
    ``raw`` is largest at the longest length (``lp`` grows with the length), so a beam at
    ``raw`` can reach at most ``raw / lp(max_len)`` (``lp_max``).
    """
    for b in np.flatnonzero(~done):
        reachable = scores[b].max() / lp_max
        ranked = sorted((f[0] for f in finished[b]), reverse=True)
        if reachable == -np.inf or (len(ranked) >= K and ranked[K - 1] >= reachable):
            done[b] = True


def _collect(finished, N, pad) -> Beams:
    B = len(finished)
    best = [sorted(f, key=lambda item: -item[0])[:N] for f in finished]   # stable: ties keep order
    L = max([len(item[2]) for hyps in best for item in hyps] + [1])
    tokens = np.full((B, N, L), pad, np.int64)
    lengths = np.zeros((B, N), np.int64)
    log_probs = np.full((B, N), -np.inf)
    scores = np.full((B, N), -np.inf)
    auxes = [item[3] for hyps in best for item in hyps]
    aux = None
    if auxes and all(a is not None for a in auxes):
        aux = np.zeros((B, N, L) + auxes[0].shape[1:], auxes[0].dtype)     # zeros past lengths
    for b, hyps in enumerate(best):
        for n, (score, log_prob, seq, seq_aux) in enumerate(hyps):
            tokens[b, n, : len(seq)] = seq
            lengths[b, n], log_probs[b, n], scores[b, n] = len(seq), log_prob, score
            if aux is not None:
                aux[b, n, : len(seq)] = seq_aux
    return Beams(tokens, lengths, log_probs, scores, aux)
