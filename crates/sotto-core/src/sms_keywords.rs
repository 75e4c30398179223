//! Inbound SMS keywords (REGULATORY.md Appendix C, REQ-511, REQ-522–524): opt-out keywords in
//! any case and punctuation, plain-language requests to stop, re-subscription and help, and
//! the replies an appointment journey asks for: confirm (C, Y, YES, SI, CONFIRM) or reschedule
//! (R). A stop always wins.

/// What an inbound text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsCommand {
    /// Stop messages (a keyword or a plain-language request).
    OptOut,
    /// Resume messages.
    OptIn,
    /// Help or information.
    Help,
    /// Confirms an appointment the patient was asked about.
    Confirm,
    /// Asks to reschedule it.
    Reschedule,
    /// Anything else.
    Other,
}

const OPT_OUT: &[&str] = &[
    "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT", "REMOVE", "ARRET",
    // Spanish: carriers and patients use these as STOP.
    "ALTO", "PARA", "PARAR", "BAJA", "DETENER", "CANCELAR", "NO MAS", "NO MAS MENSAJES",
];
const OPT_IN: &[&str] = &["START", "UNSTOP", "RESUME"];
const HELP: &[&str] = &["HELP", "INFO", "AYUDA"];
const CONFIRM: &[&str] = &["C", "Y", "YES", "SI", "CONFIRM", "CONFIRMO", "CONFIRMED"];
const RESCHEDULE: &[&str] = &["R", "RESCHEDULE", "REPROGRAMAR"];

/// Phrases that a reasonable person reads as "stop texting me", in English and Spanish.
const STOP_PHRASES: &[&str] = &[
    "stop texting", "stop messaging", "stop sending", "stop contacting", "stop please", "please stop", "dont text", "do not text",
    "don t text", "no more text", "no more texts", "no more texting", "no more messages", "no more msgs", "stop the texts", "unsubscribe me", "take me off", "remove me", "leave me alone",
    "opt me out", "stop it", "no mas", "no mas mensajes", "no mas textos", "deja de", "dejen de", "no me escriba", "no me escriban",
    "no me manden", "no me envien", "cancelar", "darme de baja", "dar de baja",
];

fn normalize(body: &str) -> String {
    crate::lint::normalize(body).text
}

/// Classifies an inbound message. Keywords count only as the whole message (after case,
/// accents and punctuation are folded away); plain-language stop requests count anywhere.
/// When in doubt between stopping and not, stopping wins.
pub fn classify(body: &str) -> SmsCommand {
    let words = normalize(body);
    let upper = words.to_uppercase();
    if OPT_OUT.contains(&upper.as_str()) || upper.replace(' ', "") == "OPTOUT" {
        return SmsCommand::OptOut;
    }
    let padded = format!(" {words} ");
    if STOP_PHRASES.iter().any(|p| padded.contains(&format!(" {p} "))) || upper.starts_with("STOP ") {
        return SmsCommand::OptOut;
    }
    if OPT_IN.contains(&upper.as_str()) {
        return SmsCommand::OptIn;
    }
    if HELP.contains(&upper.as_str()) {
        return SmsCommand::Help;
    }
    if CONFIRM.contains(&upper.as_str()) {
        return SmsCommand::Confirm;
    }
    if RESCHEDULE.contains(&upper.as_str()) {
        return SmsCommand::Reschedule;
    }
    SmsCommand::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_appendix_c_keyword_opts_out_in_any_case_and_punctuation() {
        for k in ["STOP", "stop", "Stop.", "STOPALL", "stop all", "UNSUBSCRIBE", "cancel", "END", "quit!", "REVOKE", "OPTOUT", "opt out", "OPT-OUT", " Stop "] {
            assert_eq!(classify(k), SmsCommand::OptOut, "{k}");
        }
    }

    #[test]
    fn plain_language_requests_opt_out() {
        for k in ["please stop texting me", "Stop please", "don't text me anymore", "No more messages!", "no más", "Remove me from this list", "no more texts", "No más mensajes", "ALTO", "para", "Baja", "cancelar por favor", "no me envíen más"] {
            assert_eq!(classify(k), SmsCommand::OptOut, "{k}");
        }
    }

    #[test]
    fn start_help_and_ordinary_replies_are_told_apart() {
        assert_eq!(classify("start"), SmsCommand::OptIn);
        assert_eq!(classify("UNSTOP"), SmsCommand::OptIn);
        assert_eq!(classify("Help"), SmsCommand::Help);
        assert_eq!(classify("info"), SmsCommand::Help);
        for k in ["see you then", "what time is my appointment", "ok thanks", "can't stop smiling", "yes please call me"] {
            assert_eq!(classify(k), SmsCommand::Other, "{k}");
        }
    }

    #[test]
    fn confirmations_and_reschedule_requests_are_whole_replies_and_a_stop_still_wins() {
        for k in ["C", "c", "Y", "yes", "Yes!", "SI", "Sí", "confirm", "Confirmo."] {
            assert_eq!(classify(k), SmsCommand::Confirm, "{k}");
        }
        for k in ["R", "r", "reschedule", "Reprogramar"] {
            assert_eq!(classify(k), SmsCommand::Reschedule, "{k}");
        }
        for k in ["yes stop texting me", "STOP", "Sí, dejen de escribirme"] {
            assert_eq!(classify(k), SmsCommand::OptOut, "{k}");
        }
    }
}
