"""Order of the examples in the gallery: from the first thing to try to the CLI."""

ORDER = [
    "plot_pipeline.py",
    "plot_cae_vs_baselines.py",
    "plot_grid_search.py",
    "plot_save_load.py",
    "plot_own_vocabulary.py",
    "plot_cli.py",
]


class ExampleOrder:
    """sphinx-gallery ``within_subsection_order`` key: ``ORDER``, then by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        rank = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return rank, filename

    def __repr__(self):
        return "<ExampleOrder>"
