"""Text embeddings with a context truncated to the real token length.

CLIP's text tower attends causally and pools the token at the end-of-text position
(``argmax`` of the token ids, or the first ``eos`` id). The pooled vector therefore
depends only on the tokens up to that position, and the padding after it is wasted
work: a 77-token context for "a photo of a dog." (8 tokens) costs ~9x more than needed.

Texts that tokenize identically (the CLIP tokenizer lower-cases: "Apple" and "apple")
are encoded once: the same ids give the same embedding, so this is exact.

Three levels, the fastest the model allows:

1. texts sorted by token length (then by tokens, which groups shared templates), each
   batch cut to its longest text (positional embedding and causal mask sliced to
   match); a small cost model weighs padding against the number of forward passes;
2. with open_clip's standard residual blocks, the blocks run here on the same weights:
   the prefix the whole batch shares (``<start> a photo of a``) is encoded once and its
   keys/values reused by every row (exact, again because attention is causal), and
   the last block computes only the pooled token;
3. any other text tower (``model.text``, bidirectional, ``last`` pooling) falls back to
   ``model.encode_text``.
"""

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = ["encode_texts", "supports_truncation"]

_TRUNCATABLE_POOLS = ("argmax", "eos", "first")
_TOKENIZE_CHUNK = 8192  # texts tokenized at a time: bounds the (chunk, context) id matrix
# A forward pass reads every weight once whatever the batch; on CPU that costs about as
# much as this many extra tokens (measured with ViT-B-32: ~30 ms a pass, ~0.5 ms a token).
_PASS_OVERHEAD_TOKENS = 96


def supports_truncation(model):
    """Whether ``model`` has open_clip's causal CLIP text tower with a truncatable pool."""
    from open_clip.model import CLIP

    pool = getattr(model, "text_pool_type", None)
    return (
        isinstance(model, CLIP)
        and type(model).encode_text is CLIP.encode_text
        and getattr(model, "attn_mask", None) is not None
        and pool in _TRUNCATABLE_POOLS
        and (pool != "eos" or getattr(model, "text_eos_id", None) is not None)
    )


def _pool_index(model, tokens):
    """Position of the pooled token of each sequence (as ``text_global_pool`` picks it)."""
    pool = model.text_pool_type
    if pool == "argmax":
        return tokens.argmax(dim=-1)
    if pool == "eos":
        return (tokens == model.text_eos_id).int().argmax(dim=-1)
    return torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)


def _standard_blocks(model):
    """Whether every text block is open_clip's ``ResidualAttentionBlock`` with a plain
    ``nn.MultiheadAttention``: then :func:`_run_blocks` can replay it exactly."""
    from open_clip.transformer import ResidualAttentionBlock

    for blk in model.transformer.resblocks:
        attn = getattr(blk, "attn", None)
        if (
            type(blk) is not ResidualAttentionBlock
            or hasattr(blk, "ln_1_kv")
            or not isinstance(attn, torch.nn.MultiheadAttention)
            or attn.in_proj_weight is None
            or attn.bias_k is not None
            or attn.add_zero_attn
        ):
            return False
    return True


def _block(blk, x, past, offset, query_pos):
    """One ``ResidualAttentionBlock`` on positions ``offset..offset+S`` of ``x`` (b, S, d).

    ``past`` holds the keys/values ``(1, heads, offset, head_dim)`` of the shared prefix
    (or None). With ``query_pos`` (b,) given, only that row of each sequence is computed
    (the pooled token in the last block). Returns the new states and this call's (k, v).
    """
    attn = blk.attn
    b, S, d = x.shape
    heads = attn.num_heads

    def split(t):  # (b, n, d) -> (b, heads, n, head_dim)
        return t.unflatten(-1, (heads, d // heads)).transpose(1, 2)

    q, k, v = F.linear(blk.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    k, v = split(k), split(v)
    keys, values = k, v
    if past is not None:
        keys = torch.cat([past[0].expand(b, -1, -1, -1), k], dim=2)
        values = torch.cat([past[1].expand(b, -1, -1, -1), v], dim=2)
    key_pos = torch.arange(offset + S, device=x.device)
    if query_pos is None:
        residual = x
        mask = key_pos[None, :] <= (offset + torch.arange(S, device=x.device))[:, None]
    else:
        rows = torch.arange(b, device=x.device)
        residual = x[rows, query_pos - offset].unsqueeze(1)
        q = q[rows, query_pos - offset].unsqueeze(1)
        mask = (key_pos[None, :] <= query_pos[:, None])[:, None, None, :]
    out = F.scaled_dot_product_attention(split(q), keys, values, attn_mask=mask)
    x = residual + blk.ls_1(attn.out_proj(out.transpose(1, 2).flatten(2)))
    return x + blk.ls_2(blk.mlp(blk.ln_2(x))), (k, v)


def _run_blocks(model, x, past=None, offset=0, pool_pos=None):
    """All text blocks on ``x``; the last one only at ``pool_pos`` when given."""
    blocks = model.transformer.resblocks
    kv = []
    for i, blk in enumerate(blocks):
        last = pool_pos is not None and i == len(blocks) - 1
        x, kv_i = _block(blk, x, None if past is None else past[i], offset, pool_pos if last else None)
        kv.append(kv_i)
    return x, kv


def _embed_tokens(model, tokens, start, cast_dtype):
    x = model.token_embedding(tokens).to(cast_dtype)
    return x + model.positional_embedding[start:start + tokens.shape[1]].to(cast_dtype)


def _shared_prefix(tokens, pool_idx):
    """Length of the prefix all rows share, stopping before the first pooled token."""
    same = (tokens == tokens[:1]).all(dim=0).int()
    return min(int(same.cumprod(0).sum()), int(pool_idx.min()))


def _encode_truncated(model, tokens, pool_idx, standard_blocks, prefix_cache=None):
    """``model.encode_text`` on ``tokens`` already cut to length ``L`` (the batch maximum)."""
    cast_dtype = model.transformer.get_cast_dtype()
    length = tokens.shape[1]
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    if standard_blocks:
        prefix = _shared_prefix(tokens, pool_idx)
        past = None
        if prefix:
            key = tuple(tokens[0, :prefix].tolist())
            past = None if prefix_cache is None else prefix_cache.get(key)
            if past is None:
                head = _embed_tokens(model, tokens[:1, :prefix], 0, cast_dtype)
                past = _run_blocks(model, head)[1]
                if prefix_cache is not None:
                    if len(prefix_cache) >= 64:  # bound memory when prefixes do not repeat
                        prefix_cache.clear()
                    prefix_cache[key] = past
        x = _embed_tokens(model, tokens[:, prefix:], prefix, cast_dtype)
        x = _run_blocks(model, x, past, prefix, pool_idx)[0][:, 0]
    else:
        x = _embed_tokens(model, tokens, 0, cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])[rows, pool_idx]
    # ln_final is per token, so pooling first gives the same rows for a fraction of the work
    x = model.ln_final(x)
    if model.text_projection is not None:
        if isinstance(model.text_projection, torch.nn.Linear):
            x = model.text_projection(x)
        else:
            x = x @ model.text_projection
    return x


def _sort_order(tokens, lengths):
    """Positions sorted by token length, then by the tokens (same templates together)."""
    longest = int(lengths.max())
    keys = [tokens[:, c].numpy() for c in range(longest - 1, -1, -1)] + [lengths.numpy()]
    return torch.from_numpy(np.lexsort(keys))


def _batches(lengths, batch_tokens, overhead=_PASS_OVERHEAD_TOKENS):
    """Split positions sorted by length into contiguous ``(start, stop)`` batches.

    A batch is padded to its longest text and holds at most ``batch_tokens`` tokens
    (or one text). Each forward pass also costs a fixed ``overhead`` (reading all the
    weights, ~``overhead`` tokens' worth), so neither "one length per batch" nor "one
    big padded batch" is best; a small dynamic programme over the distinct lengths
    picks the cheapest split, cost = passes * overhead + sum of padded lengths.
    """
    lengths = np.asarray(lengths)
    values, starts, counts = np.unique(lengths, return_index=True, return_counts=True)
    n_groups = len(values)
    best = np.full(n_groups + 1, np.inf)
    best[0], back = 0.0, np.zeros(n_groups + 1, dtype=int)
    for j in range(1, n_groups + 1):  # groups[i:j] form one run of batches of length values[j-1]
        for i in range(j):
            n = int(counts[i:j].sum())
            n_batches = max(1, -(-n * int(values[j - 1]) // batch_tokens))
            n_batches = min(n_batches, n)
            cost = best[i] + n_batches * overhead + n * int(values[j - 1])
            if cost < best[j]:
                best[j], back[j] = cost, i
    runs, j = [], n_groups
    while j > 0:
        runs.append((int(starts[back[j]]), int(starts[j - 1] + counts[j - 1])))
        j = back[j]
    for start, stop in reversed(runs):
        per_batch = max(1, batch_tokens // int(lengths[stop - 1]))
        n_batches = -(-(stop - start) // per_batch)
        edges = np.linspace(start, stop, n_batches + 1).round().astype(int)
        yield from zip(edges[:-1].tolist(), edges[1:].tolist())


def encode_texts(model, tokenizer, texts, *, device, batch_size=64, truncate=True, verbose=0):
    """Encode ``texts`` with CLIP's text tower; float32 unit rows ``(len(texts), d)``.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip model (see :func:`skclip.embed.load_clip`).
    tokenizer : callable
        Its tokenizer: ``tokenizer(list_of_str) -> LongTensor (n, context_length)``.
    texts : list of str
        The texts.
    device : torch.device
        Where the model lives.
    batch_size : int, default=64
        Texts per batch at full context. Truncated batches hold as many tokens
        (``batch_size * context_length``), so short texts go in larger batches.
    truncate : bool, default=True
        Use the truncated-context path when the model allows it; False always calls
        ``model.encode_text`` (the reference the fast path is tested against).
    verbose : int, default=0
        Show a tqdm progress bar when > 0.

    Returns
    -------
    embeddings : ndarray of shape (len(texts), d), dtype float32
        L2-normalised rows, in the order of ``texts``.
    """
    texts = list(texts)
    if not texts:
        dim = encode_texts(model, tokenizer, [""], device=device, truncate=truncate).shape[1]
        return np.empty((0, dim), dtype=np.float32)
    fast = truncate and supports_truncation(model)
    standard = fast and _standard_blocks(model)
    prefix_cache = {}  # keys/values of shared prefixes (templates), reused across batches
    out = None
    with torch.inference_mode(), tqdm(
        total=len(texts), desc="Encoding texts", unit="text", disable=not verbose
    ) as bar:
        for chunk_start in range(0, len(texts), _TOKENIZE_CHUNK):
            chunk = texts[chunk_start:chunk_start + _TOKENIZE_CHUNK]
            # texts the tokenizer maps to the same ids ("Apple", "apple") are encoded once
            tokens, inverse = torch.unique(tokenizer(chunk), dim=0, return_inverse=True)
            context = tokens.shape[1]
            chunk_out = None
            if fast:
                pool_idx = _pool_index(model, tokens)
                order = _sort_order(tokens, pool_idx + 1)
                lengths = (pool_idx[order] + 1).tolist()
                splits = _batches(lengths, batch_size * context)
            else:
                order = torch.arange(tokens.shape[0])
                splits = ((s, min(s + batch_size, len(order))) for s in range(0, len(order), batch_size))
            for start, stop in splits:
                rows = order[start:stop]
                batch = tokens[rows]
                if fast:
                    length = lengths[stop - 1]
                    emb = _encode_truncated(
                        model, batch[:, :length].to(device), pool_idx[rows].to(device), standard,
                        prefix_cache,
                    )
                else:
                    emb = model.encode_text(batch.to(device))
                emb = F.normalize(emb.float(), dim=-1).cpu().numpy()
                if chunk_out is None:
                    chunk_out = np.empty((tokens.shape[0], emb.shape[1]), dtype=np.float32)
                chunk_out[rows.numpy()] = emb
                bar.update(int(np.isin(inverse.numpy(), rows.numpy()).sum()))
            if out is None:
                out = np.empty((len(texts), chunk_out.shape[1]), dtype=np.float32)
            out[chunk_start:chunk_start + len(chunk)] = chunk_out[inverse.numpy()]
    return out
