#!/bin/sh
# rpiboot hook: light the rig's LED for 5 s, green (GPIO 17) for a passed board, red
# (GPIO 27) otherwise; on a computer without gpioset it only says what it would do.
#
#   rpiboot flash IMAGE --on-board-done "sh rig_led.sh"
#
# RIG_GPIOCHIP (default gpiochip0), RIG_LED_PASSED (17), RIG_LED_FAILED (27) choose the lines.
# gpioset runs in the background with its output detached, so the hook returns at once
# (a background process holding the hook's output open would be ended by rpiboot).

chip=${RIG_GPIOCHIP:-gpiochip0}
case "$RPIBOOT_RESULT" in
    passed) line=${RIG_LED_PASSED:-17} ;;
    *) line=${RIG_LED_FAILED:-27} ;;
esac
board="${RPIBOOT_SERIAL:-unknown board} on port ${RPIBOOT_PORT_PATH:-?} ($RPIBOOT_RESULT)"

if ! command -v gpioset >/dev/null 2>&1; then
    echo "no gpioset here: would light $chip line $line for $board"
    exit 0
fi
if gpioset --version 2>/dev/null | grep -q ' v1\.'; then
    # libgpiod 1.x: hold the line for 5 s
    gpioset --mode=time --sec=5 "$chip" "$line=1" </dev/null >/dev/null 2>&1 &
else
    # libgpiod 2.x: set it, toggle it off after 5 s, then exit
    gpioset -c "$chip" -t 5s,0 "$line=1" </dev/null >/dev/null 2>&1 &
fi
echo "LED $chip line $line on for $board"
