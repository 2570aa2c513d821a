#!/usr/bin/env bash
# Set up a fresh machine: a venv in .venv with this package installed, and Debian's Fashion-MNIST where apt exists.
# Usage: bash scripts/setup.sh [--dev]     (--dev also installs the test tools)
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || { echo "setup: needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

# The data: Debian/Ubuntu ship the real Fashion-MNIST IDX files as a package (offline-friendly).
if ! [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing dataset-fashion-mnist with apt-get"
    $sudo apt-get update -qq || echo "setup: apt-get update failed; trying the install anyway" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
      || echo "setup: could not install dataset-fashion-mnist; the engine will try Keras's download instead" >&2
  else
    echo "setup: no apt-get here; put Fashion-MNIST's four IDX .gz files in ~/.keras/datasets/fashion-mnist" \
         "or let the engine download them" >&2
  fi
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extra}"

# The feature discriminator's frozen MobileNetV2: nsfwjs 4.4.0 from the npm registry (25 MB, checksummed), converted
# once into $GAN_ENGINE_CACHE/weights (default ~/.cache/gan-engine). Offline, setup goes on; the discriminator says
# what is missing when it is used.
TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m engine.models.backbones.weights \
  || echo "setup: could not fetch the pretrained MobileNetV2 features; the feature discriminator will say what is missing" >&2

# --dev: the browser demo's test (tests/export/test_web.py) drives Debian's chromium with Playwright (which downloads
# no browser here) and needs onnxruntime-web in examples/web/node_modules (pinned by package-lock.json).
if [ -n "$extra" ]; then
  if ! [ -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null; then
      sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
      echo "setup: installing chromium with apt-get (for the browser demo's test)"
      $sudo apt-get update -qq || echo "setup: apt-get update failed; trying the install anyway" >&2
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
        || echo "setup: could not install chromium; tests/export/test_web.py will be skipped" >&2
    else
      echo "setup: no apt-get here; install chromium at /usr/bin/chromium or tests/export/test_web.py is skipped" >&2
    fi
  fi
  if command -v npm >/dev/null; then
    web=examples/web
    pinned=$(node -p "require('./$web/package.json').dependencies['onnxruntime-web']")
    installed=$(node -p "require('./$web/node_modules/onnxruntime-web/package.json').version" 2>/dev/null || true)
    if [ "$installed" != "$pinned" ]; then
      echo "setup: installing onnxruntime-web $pinned in examples/web (npm ci)"
      (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) \
        || echo "setup: npm ci failed in examples/web; tests/export/test_web.py will be skipped" >&2
    fi
  else
    echo "setup: no npm here; install Node.js, then: cd examples/web && npm ci (or test_web.py is skipped)" >&2
  fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import tensorflow as tf, keras; print(f"tensorflow {tf.__version__}, keras {keras.__version__}")' 2>/dev/null))"
