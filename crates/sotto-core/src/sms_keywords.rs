//! Inbound SMS keywords (REGULATORY.md Appendix C, REQ-511, REQ-522–524): opt-out keywords in
//! any case and punctuation, plain-language requests to stop, re-subscription and help.

/// What an inbound text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsCommand {
    /// Stop messages (a keyword or a plain-language request).
    OptOut,
    /// Resume messages.
    OptIn,
    /// Help or information.
    Help,
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
        for k in ["yes", "see you then", "what time is my appointment", "ok thanks", "can't stop smiling"] {
            assert_eq!(classify(k), SmsCommand::Other, "{k}");
        }
    }
}
