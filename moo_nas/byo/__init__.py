"""Bring your own network: search a space derived from a user's ``torch.nn.Module``.

* :mod:`~moo_nas.byo.load` - import ``file.py:Name`` / ``package.module:Name`` (runs user code);
* :mod:`~moo_nas.byo.trace` - ``torch.fx`` trace into an :class:`~moo_nas.arch.ArchSpec`;
* :mod:`~moo_nas.byo.space` - the ``traced`` search space derived by subtraction from it;
* :mod:`~moo_nas.byo.count` - independent parameter / MAC counts on the user's module (hooks);
* :mod:`~moo_nas.byo.export` - plain modules, float and int8 QDQ ONNX files, onnxruntime check;
* :mod:`~moo_nas.byo.retrain` - one stored point of a run retrained for export.
"""
