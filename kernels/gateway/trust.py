"""Which model the gateway runs: signed by a trusted key, unless the operator opts out.

A model decides what gets blocked, so ``ltcn detect`` runs one only when its Ed25519
signature verifies (:func:`~ltcn_kernels.engine.artifact.read_artifact` refuses a file
altered after signing, whatever the policy) and the signing key is in the trust store
(``--trusted-keys``, default :func:`~ltcn_kernels.engine.signature.default_trust_paths`).
``--allow-unsigned`` accepts an unsigned or untrusted model, and the log says so.
"""

from __future__ import annotations

from ..engine.artifact import Artifact, read_artifact
from ..engine.signature import TrustStore, UntrustedModelError, key_id


def trusted_model(model, trusted_keys: tuple[str, ...] = (), allow_unsigned: bool = False
                  ) -> tuple[Artifact, str]:
    """The verified artifact of ``model`` (a path or an artifact) and one line on who vouches
    for it.

    Raises:
        DataFormatError: a damaged or altered file.
        UntrustedModelError: unsigned or signed by an untrusted key (without
            ``allow_unsigned``), the message saying how to fix it.
        UsageError: a ``trusted_keys`` path that does not exist.
    """
    artifact = model if isinstance(model, Artifact) else read_artifact(model)
    store = TrustStore.load(trusted_keys or None)
    try:
        return artifact, store.check(artifact.path, artifact.signer)
    except UntrustedModelError:
        if not allow_unsigned:
            raise
    what = "unsigned" if artifact.signer is None else f"signed by {key_id(artifact.signer)}, not trusted"
    return artifact, f"{what} (accepted: --allow-unsigned)"
