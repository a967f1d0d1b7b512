#!/usr/bin/env bash
# `make k8s-config`: see scripts/k8s_config.py (its docstring has the inputs and outputs).
exec python3 "$(dirname "$0")/k8s_config.py" "$@"
