"""rollback-advisor: which recent change most likely broke this endpoint, and what to do."""

from .models import Change, ChangeKind, ChangeStatus, Decision, Incident, Ranking, Recommendation

__version__ = "0.1.0"
__all__ = ["Change", "ChangeKind", "ChangeStatus", "Decision", "Incident", "Ranking",
           "Recommendation", "__version__"]
