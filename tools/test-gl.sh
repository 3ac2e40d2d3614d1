#!/usr/bin/env bash
# Opt-in GL run of the gpu.js parity suite (`npm run test:gl`).
#
# Runs test/gpujs on gpu.js's `headlessgl` mode (real WebGL through the optional `gl` package, on
# Mesa under a virtual X display). It builds and installs nothing itself: when something is
# missing it says what, and how to get it, and exits with status 2.
#
# Environment:
#   TRM_GPUJS_MODE   modes to run (default: headlessgl; e.g. "headlessgl,webasm")
#   TRM_GL_NODE_PATH extra module directory holding a built `gl` (prepended to NODE_PATH), for a
#                    `gl` built outside the project's node_modules
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if [[ -n "${TRM_GL_NODE_PATH:-}" ]]; then
  export NODE_PATH="$TRM_GL_NODE_PATH${NODE_PATH:+:$NODE_PATH}"
fi

# 1. The optional `gl` package, built (npm drops it silently when its native build fails).
gl_dir="$(node -e "try { process.stdout.write(require('path').dirname(require.resolve('gl/package.json', { paths: [require.resolve('gpu.js')] }))) } catch (e) {}")"
if [[ -z "$gl_dir" ]]; then
  missing+=("the optional npm package 'gl' is not installed (npm drops it when its native build fails)")
elif [[ ! -f "$gl_dir/build/Release/webgl.node" ]]; then
  missing+=("the npm package 'gl' is installed at $gl_dir but not built (no $gl_dir/build/Release/webgl.node)")
elif ! node -e "require(process.argv[1])" "$gl_dir" >/dev/null 2>&1; then
  missing+=("the npm package 'gl' at $gl_dir is built but does not load (try: npm rebuild gl)")
fi

# 2. A virtual display to give it a GL context.
command -v xvfb-run >/dev/null 2>&1 || missing+=("xvfb-run is not on PATH (apt package xvfb)")
command -v xauth >/dev/null 2>&1 || missing+=("xauth is not on PATH (apt package xauth)")

if ((${#missing[@]} > 0)); then
  {
    echo "test:gl: cannot run the gpu.js parity suite on headlessgl:"
    for m in "${missing[@]}"; do echo "  - $m"; done
    cat <<'HELP'

To enable it (Debian/Ubuntu; see docs/gpujs.md):
  sudo apt-get install -y build-essential python3 pkg-config libxi-dev libgl-dev xvfb xauth
  npm rebuild gl        # when node_modules/gl exists but has no build/
  npm ci                # when node_modules/gl is absent: reinstall so the optional gl builds
(If the build still fails, headless-gl's README also lists libglu1-mesa-dev and libglew-dev.)
Then: npm run test:gl
HELP
  } >&2
  exit 2
fi

export TRM_GPUJS_MODE="${TRM_GPUJS_MODE:-headlessgl}"
echo "test:gl: gl at $gl_dir; running test/gpujs with TRM_GPUJS_MODE=$TRM_GPUJS_MODE under xvfb-run" >&2
# A 24-bit screen: Mesa's llvmpipe then offers float textures (OES_texture_float).
exec xvfb-run -a -s "-screen 0 1280x1024x24" npx vitest run test/gpujs "$@"
