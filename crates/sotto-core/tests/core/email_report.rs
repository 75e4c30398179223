//! Reports about sent email as mail systems write them: a DSN with the original's headers
//! (Postfix's shape), a DSN with the whole original attached, a delay notice, an ARF abuse
//! report, and messages that are not reports at all.

use sotto_core::email_report::{ReportKind, parse_report};

fn dsn(action: &str, status: &str, original: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\nTo: no-reply@clinic.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n\
         --B1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system at host mx.example.net.\r\n\r\n\
         --B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\nArrival-Date: Sun, 29 Nov 2026 08:00:00 +0000\r\n\r\n\
         Final-Recipient: rfc822; ana@example.org\r\nOriginal-Recipient: rfc822;ana@example.org\r\nAction: {action}\r\nStatus: {status}\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <ana@example.org>: Recipient address rejected:\r\n    User unknown in virtual mailbox table\r\n\r\n\
         {original}\r\n--B1--\r\n"
    )
}

const HEADERS: &str = "--B1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Riverside Clinic <no-reply@clinic.example>\r\nTo: ana@example.org\r\nSubject: Your appointment is confirmed\r\nMessage-ID: <msg_00000000000000000000002a@clinic.example>\r\n";
const WHOLE: &str = "--B1\r\nContent-Type: message/rfc822\r\n\r\nFrom: Riverside Clinic <no-reply@clinic.example>\r\nTo: ana@example.org\r\nSubject: Your appointment\r\nMessage-ID: <msg_00000000000000000000002b@clinic.example>\r\n\r\nHi Ana\r\n";

#[test]
fn a_permanent_failure_is_a_hard_bounce_about_the_original_message() {
    let report = parse_report(dsn("failed", "5.1.1", HEADERS).as_bytes()).expect("a report");
    assert_eq!((report.kind, report.status.as_str(), report.message_id.as_str()), (ReportKind::HardBounce, "5.1.1", "msg_00000000000000000000002a@clinic.example"));
    let attached = parse_report(dsn("failed", "5.2.1", WHOLE).as_bytes()).expect("a report");
    assert_eq!((attached.kind, attached.message_id.as_str()), (ReportKind::HardBounce, "msg_00000000000000000000002b@clinic.example"));
}

#[test]
fn a_temporary_failure_or_a_delay_is_a_soft_bounce() {
    assert_eq!(parse_report(dsn("delayed", "4.4.7", HEADERS).as_bytes()).map(|r| r.kind), Some(ReportKind::SoftBounce));
    assert_eq!(parse_report(dsn("failed", "4.2.2", HEADERS).as_bytes()).map(|r| r.kind), Some(ReportKind::SoftBounce));
}

#[test]
fn an_abuse_report_is_a_complaint() {
    let arf = "From: feedback@isp.example\r\nTo: abuse@clinic.example\r\nSubject: FW: Your appointment\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/report; report-type=feedback-report; boundary=\"B2\"\r\n\r\n\
               --B2\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
               --B2\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\
               --B2\r\nContent-Type: message/rfc822\r\n\r\nFrom: no-reply@clinic.example\r\nMessage-ID: <msg_00000000000000000000002c@clinic.example>\r\nSubject: News\r\n\r\nHello\r\n--B2--\r\n";
    let report = parse_report(arf.as_bytes()).expect("a report");
    assert_eq!((report.kind, report.status.as_str(), report.message_id.as_str()), (ReportKind::Complaint, "abuse", "msg_00000000000000000000002c@clinic.example"));
}

#[test]
fn messages_that_are_not_reports_are_not_read_as_bounces() {
    let reply = "From: ana@example.org\r\nTo: no-reply@clinic.example\r\nSubject: Re: Your appointment\r\nIn-Reply-To: <msg_00000000000000000000002a@clinic.example>\r\n\r\nThanks, see you then.\r\n";
    assert_eq!(parse_report(reply.as_bytes()), None);
    assert_eq!(parse_report(dsn("failed", "5.1.1", "").as_bytes()), None, "a report without the original's Message-ID names no message");
    assert_eq!(parse_report(dsn("failed", "banana", HEADERS).as_bytes()), None);
    assert_eq!(parse_report(b"\xff\xfe garbage"), None);
    assert_eq!(parse_report(b""), None);
}

#[test]
fn a_malformed_multipart_that_trips_the_parsers_assertion_is_read_without_a_panic() {
    // Found by fuzzing: mail-parser debug-asserts on it; release builds stop reading there.
    let input = include_bytes!("../../../../fuzz/corpus/report/malformed-multipart");
    let _ = parse_report(input);
}
