#!/usr/bin/env bash
# Puts the image's model in place during the Dockerfile's build stage: the model given as the
# `model` build context; else the demo model (random weights) made with rattn-make-checkpoint;
# else nothing.
#
# Usage: bake-model.sh GIVEN_DIR OUT_DIR MODEL_NAME DEMO_MODEL MAKE_CHECKPOINT
#   GIVEN_DIR        the `model` build context: deploy/image/no-model unless one was given
#   OUT_DIR          the model lands in OUT_DIR/MODEL_NAME
#   MODEL_NAME       the model's directory name in the image
#   DEMO_MODEL       with no model given, 1 makes the demo model and 0 bakes nothing
#   MAKE_CHECKPOINT  the rattn-make-checkpoint binary
set -euo pipefail

given="$1" out="$2" name="$3" demo="$4" make_checkpoint="$5"
demo_name=rattn-demo-random
mkdir -p "$out"

if [ ! -f "$given/rattn-no-model.txt" ]; then
  if [ ! -f "$given/config.json" ]; then
    echo "bake-model: the model build context has no config.json" >&2
    exit 1
  fi
  if [ "$name" = "$demo_name" ]; then
    echo "bake-model: a model was given; name it with --build-arg MODEL_NAME=NAME" >&2
    exit 1
  fi
  cp -r "$given" "$out/$name"
  echo "bake-model: baked the given model as $out/$name"
elif [ "$demo" = "1" ]; then
  if [ "$name" != "$demo_name" ]; then
    echo "bake-model: MODEL_NAME=$name but no model was given (--build-context model=DIR)" >&2
    exit 1
  fi
  "$(dirname "$0")/../../scripts/make-demo-model.sh" "$make_checkpoint" "$out/$name"
  echo "bake-model: made the demo model (random weights) in $out/$name"
elif [ "$demo" = "0" ]; then
  echo "bake-model: no model baked; mount one and set FLAGS_model_dir"
else
  echo "bake-model: DEMO_MODEL must be 0 or 1, got '$demo'" >&2
  exit 1
fi
