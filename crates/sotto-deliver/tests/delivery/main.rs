//! Delivery tests: email over SMTP against a real server on loopback with DKIM checked by an
//! independent verifier, and SMS against a loopback mock of the Twilio API that checks each
//! request as the real one expects it.

mod peers;
mod smtp;
mod twilio;
