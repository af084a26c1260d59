"""Where the shared Pulumi fixtures are: `../shared/fixtures` beside the project (also in CI)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
EXAMPLES = ROOT / "examples"
