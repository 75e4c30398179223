//! A client for the server-rendered parts (the portal, the console) that keeps cookies, does
//! not follow redirects, and checks every answer's protective headers and every cookie's flags.

use std::collections::BTreeMap;

use crate::support::TestApp;

pub struct Browser {
    pub client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// What every `Set-Cookie` must carry, such as `SameSite=Strict` and `Path=/portal`.
    cookie_flags: &'static [&'static str],
    /// What every page's Content-Security-Policy must contain.
    policy: &'static str,
}

impl Browser {
    pub fn new(cookie_flags: &'static [&'static str], policy: &'static str) -> Self {
        Self { client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"), cookies: BTreeMap::new(), cookie_flags, policy }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for value in r.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii");
            assert!(text.contains("HttpOnly") && self.cookie_flags.iter().all(|f| text.contains(f)), "{text}");
            let (name, rest) = text.split_once('=').expect("cookie");
            match rest.split(';').next().unwrap_or_default() {
                "" => drop(self.cookies.remove(name)),
                v => drop(self.cookies.insert(name.to_owned(), v.to_owned())),
            }
        }
    }

    /// The `Cookie` header this browser sends.
    pub fn header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// GET: status, and the Location header or the page.
    pub async fn get(&mut self, t: &TestApp, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", t.base)).header("cookie", self.header()).send().await.expect("get");
        self.answer(r).await
    }

    /// POST a form: status, and the Location header or the page.
    pub async fn post(&mut self, t: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self.client.post(format!("{}{path}", t.base)).header("cookie", self.header()).form(form).send().await.expect("post");
        self.answer(r).await
    }

    async fn answer(&mut self, r: reqwest::Response) -> (u16, String) {
        self.keep(&r);
        let status = r.status().as_u16();
        assert_eq!(r.headers()["cache-control"], "no-store");
        if let Some(location) = r.headers().get("location") {
            return (status, location.to_str().expect("ascii").to_owned());
        }
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        let policy = r.headers()["content-security-policy"].to_str().expect("csp").to_owned();
        let body = r.text().await.expect("body");
        assert!(policy.contains(self.policy), "{status} {body}");
        (status, body)
    }
}

/// The CSRF token of the first form on a page.
pub fn csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[start..].split('"').next().expect("value").to_owned()
}
