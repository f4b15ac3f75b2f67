#!/usr/bin/env bash
# Renders the built-in spoken prompts with espeak-ng (Debian: apt-get install espeak-ng sox).
# The WAVs are committed: the server embeds them, so it needs no speech engine at run time. Rerun
# this after changing a prompt's text in src/audio/asset.rs and commit the result.
set -euo pipefail
cd "$(dirname "$0")"
render() { # voice out text
  espeak-ng -v "$1" -s 150 -w "/tmp/$2.raw.wav" "$3"
  sox -v 0.9 "/tmp/$2.raw.wav" -r 16000 -c 1 -b 16 "$2.wav"
  rm -f "/tmp/$2.raw.wav"
}
render en-us script-911-en "This sounds like it could be an emergency. Please hang up and call 9 1 1 now, or go to the nearest emergency room."
render en-us script-988-en "I'm really glad you told me. Please call or text 9 8 8 now to reach the Suicide and Crisis Lifeline. If you are in immediate danger, call 9 1 1."
render es-419 script-911-es "Esto podría ser una emergencia. Por favor, cuelgue y llame al 9 1 1 ahora mismo, o vaya a la sala de emergencias más cercana."
render es-419 script-988-es "Gracias por decírmelo. Por favor, llame o envíe un mensaje de texto al 9 8 8 ahora mismo, y marque 2 para español, para hablar con la Línea de Prevención del Suicidio y Crisis. Si está en peligro inmediato, llame al 9 1 1."
