"""Training on each label format: read, crop and split, one module per format.

Each module has ``load(path, spec) -> (train, validation)``: labels in the spec's
skeleton order, cropped when ``data.crop`` is set, split by frame. The format of a path
is told by the one registry of label formats,
:data:`dpk.trainer.labels.formats.LABEL_FORMATS`, which names these modules; the readers
themselves are in :mod:`dpk.trainer.labels.formats`.
"""

__all__: list[str] = []
