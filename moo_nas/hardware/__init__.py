"""Hardware objectives: measured and modelled latency, energy and memory.

Each backend is a :class:`moo_nas.objectives.MetricProvider` registered on import of its
module; importing this package registers all of them.
"""

from . import host  # noqa: F401
from . import mcu  # noqa: F401
from . import onnx_runtime  # noqa: F401
from . import calibration  # noqa: F401
from ..tabular import metrics as _table_metrics  # noqa: F401,E402
from . import external  # noqa: F401
from . import gpu  # noqa: F401
from . import rapl  # noqa: F401
