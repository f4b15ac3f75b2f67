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
# Service prompts (src/audio/prompts.rs): while the assistant reconnects, and the keypad fallback.
render en-us one-moment-en "One moment, please."
render es-419 one-moment-es "Un momento, por favor."
render en-us keypad-menu-en "I'm sorry, our automated assistant is not available right now. To ask the clinic to call you back, press 1. To speak with our staff, press 2."
render en-us keypad-menu-no-staff-en "I'm sorry, our automated assistant is not available right now. To ask the clinic to call you back, press 1."
render en-us keypad-callback-en "Thank you. The clinic will call you back. Your reference number is"
render en-us keypad-repeat-en "Your reference number again is"
render en-us keypad-transfer-en "Connecting you to our staff now."
render en-us keypad-goodbye-en "Thank you for calling. Goodbye."
render en-us keypad-failed-en "I'm sorry, we could not take your request. Please call again later. Goodbye."
for d in 0 1 2 3 4 5 6 7 8 9; do render en-us "digit-$d-en" "$d"; done
