//! The providers' shared token buckets: the same grants on both engines, and concurrent
//! takers never granted more than the bucket holds.

use sotto_store::SendRateStore;

use crate::each_backend;

const SECOND: i64 = 1_000_000;

#[tokio::test]
async fn a_bucket_starts_full_grants_only_whole_tokens_and_refills_at_its_rate_up_to_its_burst() {
    each_backend(async |t| {
        let s = &t.store;
        let t0 = 1_000 * SECOND;
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 15, t0).await.expect("take"), 15, "a new bucket is full");
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 15, t0).await.expect("take"), 5, "what is left");
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 15, t0).await.expect("take"), 0);
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 15, t0 + SECOND / 4).await.expect("take"), 2, "2.5 tokens refilled: 2 whole ones");
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 15, t0 + SECOND / 2).await.expect("take"), 3, "the half token kept, plus 2.5");
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 100, t0 + 60 * SECOND).await.expect("take"), 20, "never more than the burst");
        assert_eq!(s.take_send_tokens("email:smtp", 10.0, 20.0, 3, t0).await.expect("take"), 3, "each provider has its own bucket");
        assert_eq!(s.take_send_tokens("sms:twilio", 10.0, 20.0, 5, t0 + 59 * SECOND).await.expect("take"), 0, "a clock behind the last draw refills nothing");
    })
    .await;
}

#[tokio::test]
async fn concurrent_takers_are_never_granted_more_than_the_bucket_holds() {
    each_backend(async |t| {
        let t0 = 1_000 * SECOND;
        let mut takers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let s = t.store.clone();
            takers.spawn(async move {
                let mut got = 0;
                for _ in 0..5 {
                    got += s.take_send_tokens("push:fcm", 1.0, 30.0, 2, t0).await.expect("take");
                }
                got
            });
        }
        let mut total = 0;
        while let Some(got) = takers.join_next().await {
            total += got.expect("taker");
        }
        assert_eq!(total, 30, "80 tokens wanted at one instant, 30 in the bucket");
    })
    .await;
}
