"""Imports every area's models so the one MetaData knows every table (for Alembic)."""

from kura.classes.models import *  # noqa: F403
from kura.identity.models import *  # noqa: F403
from kura.ledger.models import *  # noqa: F403
from kura.records.models import *  # noqa: F403
from kura.imaging.models import *  # noqa: F403
from kura.keys.models import *  # noqa: F403
from kura.tombstones.models import *  # noqa: F403
from kura.disposal.models import *  # noqa: F403
from kura.identity.emergency import EmergencySwitch  # noqa: F401
from kura.registers.models import *  # noqa: F403
from kura.reviews.models import *  # noqa: F403
