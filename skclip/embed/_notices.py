"""The embedder's warnings: random weights (once per model and process, and on a reload
in another process) and unreadable images, attributed to the user's line."""

import os
import sys
import uuid
import warnings

import joblib
import sklearn

from ..exceptions import RandomWeightsWarning

_INTERNAL_DIRS = (
    os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep,
    os.path.dirname(os.path.abspath(joblib.__file__)) + os.sep,  # Pipeline(memory=...)
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,  # skclip/
)

RANDOM_WEIGHTS_WARNED = set()  # models already reported: the notice is given once per process
_PROCESS = uuid.uuid4().hex  # tells a pickle written by this process from one written elsewhere
PROCESS_KEY = "_skclip_process"


def caller_stacklevel():
    """``stacklevel`` pointing a warning at the first frame outside skclip, scikit-learn
    and joblib (the wrappers of ``_fit_context``, ``set_output`` and ``Pipeline(memory=)``
    make fixed levels wrong)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def warn_random_weights(model):
    """The once-per-process notice that ``model`` runs with random weights."""
    if os.fspath(model) in RANDOM_WEIGHTS_WARNED:
        return
    RANDOM_WEIGHTS_WARNED.add(os.fspath(model))
    warnings.warn(
        f"CLIPEmbedder(model={model!r}, pretrained=None) uses random weights: "
        "its embeddings carry no meaning (fine for tests and speed measurements).",
        RandomWeightsWarning,
        stacklevel=caller_stacklevel(),
    )


def stamp(state):
    """Mark a pickled state with this process."""
    state[PROCESS_KEY] = _PROCESS
    return state


def check_reload(state):
    """Pop the process mark of ``state``; warn when random weights come from elsewhere."""
    written_by = state.pop(PROCESS_KEY, None)
    model = state.get("model")
    if state.get("pretrained", "") is None and written_by != _PROCESS \
            and ("reload", written_by, model) not in RANDOM_WEIGHTS_WARNED:
        # once per pickle source and model: a pipeline holds several such embedders
        RANDOM_WEIGHTS_WARNED.add(("reload", written_by, model))
        warnings.warn(
            f"this CLIPEmbedder(model={model!r}, pretrained=None) was pickled "
            "in another process: random weights are not stored, so new ones are drawn "
            "here and its embeddings do not match those the pipeline was fitted on (the "
            "predictions are meaningless). Use a checkpoint file as pretrained= (e.g. "
            "torch.save(model.state_dict(), PATH)) to reload a model exactly.",
            RandomWeightsWarning,
            stacklevel=3,
        )
    return state
