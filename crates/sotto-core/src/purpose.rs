//! Communication purposes and what each one requires (REGULATORY.md area 1 and 5.1):
//! which purposes need a HIPAA marketing authorization and which SMS consent kind.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Why a message is sent. Every campaign and journey declares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Treatment and care coordination.
    Treatment,
    /// Health care operations: appointment reminders, account notices.
    Operations,
    /// Marketing the covered entity itself pays for.
    Marketing,
    /// Marketing paid for by a third party (remunerated).
    MarketingRemunerated,
}

/// The TCPA consent kinds, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// Prior express consent (enough for health care messages).
    Express,
    /// Prior express written consent (needed for marketing texts).
    ExpressWritten,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 4] = [Purpose::Treatment, Purpose::Operations, Purpose::Marketing, Purpose::MarketingRemunerated];

    /// Parses a wire name.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw).ok_or_else(|| {
            FieldError::new("invalid_purpose", field, format!("{field} must be one of treatment, operations, marketing, marketing_remunerated"))
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Treatment => "treatment",
            Purpose::Operations => "operations",
            Purpose::Marketing => "marketing",
            Purpose::MarketingRemunerated => "marketing_remunerated",
        }
    }

    /// Whether this is marketing in the HIPAA sense.
    pub fn is_marketing(self) -> bool {
        matches!(self, Purpose::Marketing | Purpose::MarketingRemunerated)
    }

    /// Whether a message needs a HIPAA marketing authorization. Marketing needs one when its
    /// targeting or content uses PHI; remunerated marketing always does (REQ-103, REQ-113).
    pub fn needs_authorization(self, uses_phi: bool) -> bool {
        match self {
            Purpose::Treatment | Purpose::Operations => false,
            Purpose::Marketing => uses_phi,
            Purpose::MarketingRemunerated => true,
        }
    }

    /// The SMS consent kind this purpose needs (REQ-502, REQ-503).
    pub fn sms_consent_needed(self) -> ConsentKind {
        if self.is_marketing() { ConsentKind::ExpressWritten } else { ConsentKind::Express }
    }

    /// Whether email and push need an explicit opt-in for this purpose. Care messages go to
    /// the contact the patient gave unless they opted out; marketing needs an opt-in.
    pub fn needs_opt_in(self) -> bool {
        self.is_marketing()
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marketing_needs_authorization_only_with_phi_unless_remunerated() {
        assert!(!Purpose::Operations.needs_authorization(true));
        assert!(!Purpose::Marketing.needs_authorization(false));
        assert!(Purpose::Marketing.needs_authorization(true));
        assert!(Purpose::MarketingRemunerated.needs_authorization(false));
    }

    #[test]
    fn marketing_texts_need_written_consent() {
        assert_eq!(Purpose::Treatment.sms_consent_needed(), ConsentKind::Express);
        assert_eq!(Purpose::Marketing.sms_consent_needed(), ConsentKind::ExpressWritten);
        assert!(ConsentKind::ExpressWritten > ConsentKind::Express);
    }
}
