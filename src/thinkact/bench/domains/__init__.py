"""The bundled domains. Each module declares one Domain: entities, tools, policy, procedures."""

from thinkact.bench.domains import account, airline, retail
from thinkact.bench.procedures import Domain, Procedure

DOMAINS: dict[str, Domain] = {d.name: d for d in (retail.DOMAIN, airline.DOMAIN, account.DOMAIN)}
PROCEDURES: dict[str, Procedure] = {p.name: p for d in DOMAINS.values() for p in d.procedures}


def procedures_for(split: str) -> list[Procedure]:
    """The procedures a split draws from: train and test share the training procedures, ood
    holds the rest."""
    want = "ood" if split == "ood" else "train"
    return [p for p in PROCEDURES.values() if p.split == want]
