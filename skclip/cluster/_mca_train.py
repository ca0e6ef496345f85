"""MCA's training loop: the networks trained on frozen embeddings, epoch by epoch.

The estimator (``_mca.py``) prepares the inputs and reads the result; the networks are
in ``_mca_nets.py``, the loss terms and pseudo-labels in ``_mca_losses.py``.
"""

# rows per block of the per-epoch passes over the attention: a block's gathered texts
# (block * n_txt_neighbors * d floats, 10 MB at 512 x 10 x 512) stay in cache; 30% less
# CPU time per pass than 4096-row blocks on CPU, with bit-identical results
_PASS_BLOCK = 512
# min_steps="auto" never asks for more passes over the data than this (SIC's longest
# schedule, 100 epochs)
_MAX_AUTO_EPOCHS = 100


def _adam(params, **kwargs):
    """Adam with its fused kernel where torch has one for the device (CPU since torch
    2.4): on CPU the per-tensor loop costs as much as the batch's forward pass."""
    import torch

    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, foreach=True, **kwargs)


def _initial_text_centres(mixtures, n_clusters, generator, device):
    """Spherical k-means (10 restarts) of the images' text counterparts, seeded from
    ``generator``: the first centres of ``pseudo_labels="text-clusters"``."""
    import numpy as np
    import torch

    from ..kmeans import kmeans

    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    result = kmeans(mixtures.cpu().numpy(), n_clusters, spherical=True, n_init=10,
                    random_state=seed, device=device)
    centres = torch.as_tensor(np.asarray(result.centers), dtype=mixtures.dtype)
    return torch.nn.functional.normalize(centres.to(mixtures.device), dim=1)


def train_mca(est, X, Xq, texts, *, device, generator):
    """Train MCA's networks.

    ``X`` (numpy, unit rows) feeds the heads and the image k-NN; ``Xq`` are the
    images in the space where they are compared with ``texts`` (both centred on
    their modality mean by default). Returns ``(nets, loss_curve, loss_terms,
    attention_peaks)``. ``generator`` (CPU) drives the init, the batch shuffles and
    the neighbour draws, so CPU and GPU see the same draws.
    """
    import torch
    from torch.nn import functional as F
    from tqdm.auto import trange

    from ..neighbors import knn
    from ._mca_losses import mca_objective, semantic_pseudo_labels, text_cluster_step
    from ._mca_nets import MCANetworks

    def knn_fn(queries, base, k):
        return knn(queries, base, n_neighbors=k, exclude_self=False, device=device)[1]

    n, d = X.shape
    Xt = torch.as_tensor(X, dtype=torch.float32).to(device)
    Qt = torch.as_tensor(Xq, dtype=torch.float32).to(device)
    Tt = torch.as_tensor(texts, dtype=torch.float32).to(device)
    k_img = min(est.n_img_neighbors, n - 1)
    txt_idx = knn_fn(Qt, Tt, min(est.n_txt_neighbors, Tt.shape[0]))
    nets = MCANetworks(d, est.n_clusters_, head=est.head, hidden_dim=est.hidden_dim,
                       tau_attn=est.tau_attn, generator=generator).to(device)
    if est.neighbor_space == "image":
        img_nb = knn(Xt, n_neighbors=k_img, exclude_self=True, device=device)[1]
    else:
        # each image with its initial text counterpart (the softmax retrieval over
        # its nearest texts): the neighbours of both modalities together
        mixtures = nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK, heads=False)[1]
        fused = torch.nn.functional.normalize(Qt + mixtures, dim=1)
        img_nb = knn(fused, n_neighbors=k_img, exclude_self=True, device=device)[1]
        del fused, mixtures
    optimiser = _adam(nets.parameters(), lr=est.lr, weight_decay=est.weight_decay)
    weights = dict(lambda_ent=est.lambda_ent, w_ins=est.w_ins, w_pro=est.w_pro,
                   w_sem=est.w_sem, tau_ins=est.tau_ins, tau_pro=est.tau_pro)
    n_batches = max(1, min(-(-n // est.batch_size), n // 2))  # batches of >= 2 (BatchNorm)
    if est.min_steps == "auto":  # 20 steps per cluster, in at most 100 passes over the data
        min_steps = min(20 * est.n_clusters_, _MAX_AUTO_EPOCHS * n_batches)
    else:
        min_steps = est.min_steps
    n_epochs = max(est.epochs, -(-min_steps // n_batches))
    curve, terms, peaks = [], {}, []
    text_clusters = est.pseudo_labels == "text-clusters"
    centres = None  # "text-clusters": the k-means centres of the text counterparts
    for _ in trange(n_epochs, desc="MCA epochs", disable=not est.verbose):
        # pseudo-labels of the epoch (SIC: at the epoch start), in one space: the
        # attended mixtures and the semantic centres are both means of the (centred)
        # texts. "text-clusters": one k-means step of the current mixtures from the
        # previous centres; SIC's rules: centres picked by the current image head
        # the text clusters do not read the image head: its pass over all images
        # (as costly as the attention's) is skipped
        proba, mixtures, peak = nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK,
                                               heads=not text_clusters)
        peaks.append(float(peak.mean()))
        if text_clusters:
            if centres is None:
                centres = _initial_text_centres(mixtures, est.n_clusters_, generator, device)
            pseudo, centres = text_cluster_step(mixtures, centres)
        else:
            anchor = Qt if est.pseudo_labels == "image" else mixtures
            pseudo, _ = semantic_pseudo_labels(proba, Qt, anchor, Tt, xi_c=est.xi_c,
                                               xi_a=est.xi_a, knn_fn=knn_fn)
        totals, parts = [], []
        # near-equal splits of a permutation: no sample dropped
        for idx in torch.tensor_split(torch.randperm(n, generator=generator), n_batches):
            pick = torch.randint(k_img, (len(idx),), generator=generator).to(device)
            idx = idx.to(device)
            x = Xt[idx]
            # embedding() is the row gather Tt[txt_idx[idx]], 2-3x faster on CPU
            counterpart, _ = nets.attention(Qt[idx], F.embedding(txt_idx[idx], Tt))
            loss, batch_terms = mca_objective(
                nets.image_head(x), nets.image_head(Xt[img_nb[idx, pick]]),
                nets.text_head(counterpart), pseudo[idx], **weights)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            totals.append(loss.detach())
            parts.append(batch_terms)
        curve.append(float(torch.stack(totals).mean()))
        for name in parts[0]:
            terms.setdefault(name, []).append(float(torch.stack([p[name] for p in parts]).mean()))
    # final attention peaks: the image head is not needed (fit computes its own pass)
    peaks.append(float(nets.full_pass(Xt, Qt, Tt, txt_idx, _PASS_BLOCK, heads=False)[2].mean()))
    return nets, curve, terms, peaks
