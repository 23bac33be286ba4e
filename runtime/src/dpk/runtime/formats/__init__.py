"""File formats, one module per format, each holding its reader and its writer.

DeepLabCut (``dlc``), SLEAP and NWB (``sleap``), DeepPoseKit HDF5 (``dpk_h5``) and dpk's
own prediction tables (CSV and HDF5). Writers go through a temporary file and a rename,
so a crash never leaves a half-written file that looks complete.
"""

__all__: list[str] = []
