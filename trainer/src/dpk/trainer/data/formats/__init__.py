"""Training-label formats that live with the trainer (DESIGN.md, section 1: label I/O).

Only COCO so far; DeepPoseKit HDF5, DeepLabCut and SLEAP labels are still read by
:mod:`dpk.runtime.formats` (dlc, dlc_table, dpk_h5, sleap) and dispatched by
:func:`dpk.trainer.data.loading.detect_format`.
"""

__all__: list[str] = []
