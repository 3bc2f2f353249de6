#!/usr/bin/env bash
# Puts the image's model in place during the Dockerfile's build stage: the model given as the
# `model` build context; else the default model committed in the repository
# (models/rattn-fortunes, trained by tools/train/train.py); else nothing.
#
# Usage: bake-model.sh GIVEN_DIR OUT_DIR MODEL_NAME DEFAULT_MODEL DEFAULT_DIR
#   GIVEN_DIR      the `model` build context: deploy/image/no-model unless one was given
#   OUT_DIR        the model lands in OUT_DIR/MODEL_NAME
#   MODEL_NAME     the model's directory name in the image
#   DEFAULT_MODEL  with no model given, 1 bakes the default model and 0 bakes nothing
#   DEFAULT_DIR    the default model's directory in the build stage
set -euo pipefail

given="$1" out="$2" name="$3" default="$4" default_dir="$5"
default_name=$(basename "$default_dir")
mkdir -p "$out"

if [ ! -f "$given/rattn-no-model.txt" ]; then
  if [ ! -f "$given/config.json" ]; then
    echo "bake-model: the model build context has no config.json" >&2
    exit 1
  fi
  if [ "$name" = "$default_name" ]; then
    echo "bake-model: a model was given; name it with --build-arg MODEL_NAME=NAME" >&2
    exit 1
  fi
  cp -r "$given" "$out/$name"
  echo "bake-model: baked the given model as $out/$name"
elif [ "$default" = "1" ]; then
  if [ "$name" != "$default_name" ]; then
    echo "bake-model: MODEL_NAME=$name but no model was given (--build-context model=DIR)" >&2
    exit 1
  fi
  mkdir -p "$out/$name"
  cp "$default_dir/config.json" "$default_dir/model.safetensors" "$out/$name/"
  echo "bake-model: baked the default model as $out/$name"
elif [ "$default" = "0" ]; then
  echo "bake-model: no model baked; mount one and set FLAGS_model_dir"
else
  echo "bake-model: DEFAULT_MODEL must be 0 or 1, got '$default'" >&2
  exit 1
fi
