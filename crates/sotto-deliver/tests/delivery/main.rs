//! Delivery tests: email over SMTP against a real server on loopback with DKIM checked by an
//! independent verifier, SMS against a loopback mock of the Twilio API, and push against
//! loopback mocks of FCM and APNs, each mock checking requests as the real service does.

mod peers;
mod push;
mod push_mocks;
mod smtp;
mod twilio;
