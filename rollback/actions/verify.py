"""`infra-rollback verify STACK`: run the stack's health gates and report each one.

The action is built with its dependencies (the stack config mapping, an optional target checkpoint
for expectations, clock and sleep) and ``run(stack)`` tells the story: find the gates declared in
stack config, derive what should be running from the target, build the gates, poll them, report.

    report = Verify(config=read_stack_config(path), target=deployment, timeout=120).run("prod")
    print(health_text(report))            # rollback.render.health; or json.dumps(report.to_dict())
    exit_code = 0 if report.healthy else 1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollback.errors import BadInput
from rollback.health.expect import Expectations, expectations_from
from rollback.health.runner import Gate, GateReport, HealthReport, run_gates
from rollback.health.spec import CONFIG_KEY, HealthSpec, load_health_spec
from rollback.models import Deployment
from rollback.state.secrets import passphrase_from_env

__all__ = ["HealthReport", "Verify"]

GatesFor = Callable[[HealthSpec, "Expectations | None"], Sequence[Gate]]


@dataclass
class Verify:
    """Run a stack's health gates.

    ``config``: the stack config mapping (``config:`` of ``Pulumi.<stack>.yaml``, a history entry's
    recorded ``config``), or the whole YAML document (then its ``encryptionsalt`` decrypts secret
    header values with the passphrase). ``target``: the checkpoint whose images and task definitions
    should be running (optional). ``timeout`` / ``interval`` override the stack config's.
    ``gates_for`` replaces gate construction (tests); ``on_round`` sees every round's states.
    """

    config: Mapping[str, Any] | None
    target: Deployment | None = None
    timeout: float | None = None
    interval: float | None = None
    source: str = CONFIG_KEY
    environ: Mapping[str, str] | None = None
    decrypt: Callable[[str], str] | None = None
    passphrase: Callable[[], str | None] = passphrase_from_env
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    on_round: Callable[[Sequence[GateReport]], None] | None = None
    gates_for: GatesFor | None = None

    def spec(self, stack: str) -> HealthSpec:
        spec = load_health_spec(self.config, source=self.source)
        if spec is None:
            raise BadInput(f"stack {stack} declares no health gates (add {CONFIG_KEY} with gates to its "
                           f"stack config, e.g. stacks/Pulumi.{stack.rsplit('/', 1)[-1]}.yaml)")
        return spec

    def run(self, stack: str) -> HealthReport:
        spec = self.spec(stack)
        expectations = expectations_from(self.target) if self.target is not None else None
        gates = self._gates(spec, expectations)
        timeout = self.timeout if self.timeout is not None else spec.timeout
        interval = self.interval if self.interval is not None else spec.interval
        return run_gates(gates, timeout=timeout, interval=interval, stack=stack, clock=self.clock,
                         sleep=self.sleep, on_round=self.on_round)

    def _gates(self, spec: HealthSpec, expectations: Expectations | None) -> Sequence[Gate]:
        if self.gates_for is not None:
            return self.gates_for(spec, expectations)
        from rollback.health.gates import build_gates

        decrypt = self.decrypt
        if decrypt is None and spec.has_secrets:
            decrypt = self._stack_decrypter()
        return build_gates(spec, expectations=expectations, environ=self.environ, decrypt=decrypt)

    def _stack_decrypter(self) -> Callable[[str], str] | None:
        """Decrypts ``secure:`` values with the stack file's passphrase salt, when there is one."""
        salt = self.config.get("encryptionsalt") if isinstance(self.config, Mapping) else None
        if not isinstance(salt, str) or not salt:
            return None
        phrase = self.passphrase()
        if phrase is None:
            return None
        from rollback.errors import SecretsError
        from rollback.state.secrets import PassphraseCrypter

        crypter = PassphraseCrypter.from_salt(salt, phrase, source=self.source)

        def decrypt(ciphertext: str) -> str:
            try:
                return crypter.decrypt(ciphertext)
            except Exception as exc:
                raise SecretsError(f"{self.source}: a secret header value could not be decrypted") from exc

        return decrypt
