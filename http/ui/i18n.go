package ui

import "strings"

// Swedish and English. Each screen's file adds its words with words() in an
// init function; keys starting with "js." are also given to the page's
// script (kvitt.t in app.js). A key missing in a language falls back to
// Swedish, then to the key itself.

var dict = map[string]map[string]string{"sv": {}, "en": {}}

// words adds sv/en pairs: words(map[string][2]string{"key": {"sv", "en"}}).
func words(m map[string][2]string) {
	for k, v := range m {
		dict["sv"][k], dict["en"][k] = v[0], v[1]
	}
}

func translate(lang, key string) string {
	if s, ok := dict[lang][key]; ok {
		return s
	}
	if s, ok := dict["sv"][key]; ok {
		return s
	}
	return key
}

func dictionary(lang string) map[string]string {
	out := map[string]string{}
	for k := range dict["sv"] {
		if strings.HasPrefix(k, "js.") {
			out[k[3:]] = translate(lang, k)
		}
	}
	return out
}

func init() {
	words(map[string][2]string{
		"app.name":         {"kvitt", "kvitt"},
		"nav.signout":      {"Logga ut", "Sign out"},
		"nav.till":         {"Kassa", "Till"},
		"nav.admin":        {"Backoffice", "Back office"},
		"nav.lang":         {"English", "Svenska"},
		"signin.title":     {"Logga in", "Sign in"},
		"signin.username":  {"Användarnamn", "Username"},
		"signin.password":  {"Lösenord", "Password"},
		"signin.submit":    {"Logga in", "Sign in"},
		"signin.sandbox":   {"Sandlåda: logga in med demoanvändaren som skrevs ut när kvitt startade.", "Sandbox: sign in with the demo user printed when kvitt started."},
		"tills.title":      {"Välj kassa", "Choose a till"},
		"denied.title":     {"Ingen behörighet", "Not allowed"},
		"denied.text":      {"Din roll får inte öppna den här sidan.", "Your role may not open this page."},
		"js.error.network": {"Ingen kontakt med kvitt. Försök igen.", "No connection to kvitt. Try again."},
		"js.signin.wrong":  {"Fel användarnamn eller lösenord.", "Wrong username or password."},
		"js.signin.busy":   {"Loggar in…", "Signing in…"},
	})
}
