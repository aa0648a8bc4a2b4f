#!/bin/sh
# Starts the SureHA console and prints its address (DESIGN §11).
# usage: gui.sh [-l ADDRESS:PORT]     (default 127.0.0.1:7012: this machine only)
HAHOME=${HAHOME:-$(cd "$(dirname "$0")/.." && pwd)}
export HAHOME
exec "$HAHOME/bin/haconsole" -g "$HAHOME/gui" "$@"
