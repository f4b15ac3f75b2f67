//! The keypad fallback: when the assistant cannot be reached at the start of a phone call, or
//! cannot be restored mid-call, the caller still gets somewhere — "press 1 for a callback, 2 for
//! staff" — from pre-rendered prompts and Twilio's DTMF events.
//!
//! This is the menu's pure state machine (no I/O, no clock): the session feeds it digits and
//! timeouts and carries out what comes back. Every path ends the call with something done: a
//! callback queued, a transfer, or (after three unanswered menus) a goodbye.

/// What the session should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadAction {
    /// Play the menu (first time, after a wrong key, or after a silence).
    PlayMenu,
    /// Queue a callback and read its reference out twice, then hang up.
    RequestCallback,
    /// Connect the caller to the staff line.
    Transfer,
    /// Nobody pressed anything: say goodbye and hang up.
    Goodbye,
    /// Ignore this input (the menu already chose).
    Nothing,
}

/// Times the menu is played before the call gives up on silence.
pub const MAX_MENUS: u32 = 3;

/// The menu's state for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keypad {
    /// Whether "2" reaches staff (a staff line is configured).
    staff_line: bool,
    menus_played: u32,
    chosen: bool,
}

impl Keypad {
    /// Enter the fallback; the first action is always [`KeypadAction::PlayMenu`].
    pub fn start(staff_line: bool) -> (Keypad, KeypadAction) {
        (
            Keypad {
                staff_line,
                menus_played: 1,
                chosen: false,
            },
            KeypadAction::PlayMenu,
        )
    }

    pub fn staff_line(&self) -> bool {
        self.staff_line
    }

    /// A key was pressed (`digit` as Twilio sends it: `0`-`9`, `*`, `#`).
    pub fn on_digit(&mut self, digit: &str) -> KeypadAction {
        if self.chosen {
            return KeypadAction::Nothing;
        }
        match digit {
            "1" => {
                self.chosen = true;
                KeypadAction::RequestCallback
            }
            "2" if self.staff_line => {
                self.chosen = true;
                KeypadAction::Transfer
            }
            _ => self.replay(),
        }
    }

    /// The menu played and nothing was pressed in time.
    pub fn on_timeout(&mut self) -> KeypadAction {
        if self.chosen {
            return KeypadAction::Nothing;
        }
        self.replay()
    }

    fn replay(&mut self) -> KeypadAction {
        if self.menus_played >= MAX_MENUS {
            self.chosen = true;
            return KeypadAction::Goodbye;
        }
        self.menus_played += 1;
        KeypadAction::PlayMenu
    }
}

#[cfg(test)]
mod tests {
    use super::KeypadAction::*;
    use super::*;

    #[test]
    fn one_asks_for_a_callback_and_two_reaches_staff_only_when_there_is_a_line() {
        let (mut k, first) = Keypad::start(true);
        assert_eq!(first, PlayMenu);
        assert_eq!(k.on_digit("2"), Transfer);
        assert_eq!(k.on_digit("1"), Nothing, "chosen once");

        let (mut k, _) = Keypad::start(false);
        assert_eq!(k.on_digit("2"), PlayMenu, "no staff line: the menu again");
        assert_eq!(k.on_digit("1"), RequestCallback);
        assert_eq!(k.on_timeout(), Nothing);
    }

    #[test]
    fn wrong_keys_and_silence_replay_the_menu_three_times_then_goodbye() {
        let (mut k, _) = Keypad::start(true);
        assert_eq!(k.on_digit("9"), PlayMenu);
        assert_eq!(k.on_timeout(), PlayMenu);
        assert_eq!(k.on_digit("#"), Goodbye, "third menu unanswered");
        assert_eq!(k.on_digit("1"), Nothing, "the call is ending");
    }
}
