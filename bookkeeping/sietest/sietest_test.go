package sietest

import (
	"strings"
	"testing"
)

// The voucher of the specification's #TRANS example (SIE filformat 4B,
// #TRANS), in a file with the records a type 4I file must have.
const specExample = "#FLAGGA 0\n" +
	"#PROGRAM \"Visma Compact\" 5.1\n" +
	"#FORMAT PC8\n" +
	"#GEN 20080518 AN\n" +
	"#SIETYP 4\n" +
	"#FNAMN \"M\x86leri \\\"Axelsson\\\" AB\"\n" +
	"#ORGNR 556334-3689 1\n" +
	"#VER \"\" \"\" 20080101 \"Porto\"\n" +
	"{\n" +
	"    #TRANS    1910 { }    -1000.00\n" +
	"    #TRANS    2640 { }    200.00\n" +
	"    #TRANS    6250 {1 \"456\" 7 \"47\"}    800\n" +
	"}\n"

func TestSpecExample(t *testing.T) {
	f, err := Parse([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if f.Company != `Måleri "Axelsson" AB` || f.OrgNr != "556334-3689" || f.Program[0] != "Visma Compact" || f.CRLF {
		t.Errorf("header: %+v", f)
	}
	if len(f.Vouchers) != 1 || len(f.Vouchers[0].Trans) != 3 || f.Vouchers[0].Trans[2].Amount != 80000 ||
		len(f.Vouchers[0].Trans[2].Objects) != 4 || f.Vouchers[0].Text != "Porto" {
		t.Errorf("vouchers: %+v", f.Vouchers)
	}
	crlf, err := Parse([]byte(strings.ReplaceAll(specExample, "\n", "\r\n")))
	if err != nil || !crlf.CRLF {
		t.Errorf("CR LF: %v, %v", crlf, err)
	}
}

// The reader refuses what the specification does not allow.
func TestRefuses(t *testing.T) {
	for name, edit := range map[string][2]string{
		"unbalanced":       {"200.00", "200.01"},
		"three decimals":   {"-1000.00", "-1000.000"},
		"plus sign":        {"200.00", "+200.00"},
		"decimal comma":    {"-1000.00", "-1000,00"},
		"bad date":         {"20080101", "20080231"},
		"no flag first":    {"#FLAGGA 0\n", ""},
		"format":           {"PC8", "UTF8"},
		"type":             {"#SIETYP 4", "#SIETYP 3"},
		"unknown label":    {"#SIETYP 4\n", "#SIETYP 4\n#KVITT 1\n"},
		"order":            {"#SIETYP 4\n", "#KONTO 1910 \"Kassa\"\n#SIETYP 4\n"},
		"no block":         {"{\n", ""},
		"open quote":       {`"Porto"`, `"Porto`},
		"control char":     {"Porto", "Po\x01rto"},
		"unexpected byte":  {"M\x86leri", "M\xE5leri"},
		"trans outside":    {"}\n", "}\n#TRANS 1910 {} 0\n"},
		"undeclared konto": {"#ORGNR", "#KONTO 1910 \"Kassa\"\n#ORGNR"},
		"no final newline": {"}\n", "}"},
	} {
		src := strings.Replace(specExample, edit[0], edit[1], 1)
		if src == specExample {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if _, err := Parse([]byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
