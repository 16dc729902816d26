package simsvea

// The simulator's own view of the Instore API's JSON (not package svea's):
// php-instore docs/Model/*.md; docs.payments.svea.com/docs/instore.

type createRequest struct {
	MerchantOrderNumber               string        `json:"merchantOrderNumber"`
	CountryCode                       string        `json:"countryCode"`
	Currency                          string        `json:"currency"`
	MobilePhoneNumber                 string        `json:"mobilePhoneNumber"`
	Tags                              []string      `json:"tags"`
	OrderItems                        []orderItem   `json:"orderItems"`
	CallbackURI                       string        `json:"callbackUri"`
	TermsURI                          string        `json:"termsUri"`
	ConfirmationURI                   string        `json:"confirmationUri"`
	DeferredDelivery                  bool          `json:"deferredDelivery"`
	MinutesUntilLinkExpires           *float64      `json:"minutesUntilLinkExpires"`
	PresetValues                      []presetValue `json:"presetValues"`
	RequireElectronicIDAuthentication *bool         `json:"requireElectronicIdAuthentication"`
	MerchantName                      string        `json:"merchantName"`
	PartnerKey                        string        `json:"partnerKey"`
}

type orderItem struct {
	ArticleNumber   string `json:"articleNumber"`
	Name            string `json:"name"`
	Quantity        int64  `json:"quantity"`
	UnitPrice       int64  `json:"unitPrice"`
	DiscountPercent int64  `json:"discountPercent"`
	DiscountAmount  int64  `json:"discountAmount"`
	VATPercent      int64  `json:"vatPercent"`
	Unit            string `json:"unit"`
	RowNumber       int    `json:"rowNumber"`
	MerchantData    string `json:"merchantData"`
}

// total is the row's amount: unitPrice × quantity/100 less the discount,
// rounded half away from zero.
func (it orderItem) total() int64 {
	g := roundDiv(it.UnitPrice*it.Quantity, 100)
	if it.DiscountAmount != 0 {
		return g - it.DiscountAmount
	}
	return roundDiv(g*(10000-it.DiscountPercent), 10000)
}

func roundDiv(a, b int64) int64 {
	q, r := a/b, a%b
	if 2*r >= b {
		q++
	} else if 2*r <= -b {
		q--
	}
	return q
}

type presetValue struct {
	AttributeName string `json:"attributeName"`
	Value         string `json:"value"`
	IsReadonly    bool   `json:"isReadonly"`
}

type orderResponse struct {
	MerchantOrderNumber string               `json:"merchantOrderNumber"`
	InstoreUIURI        string               `json:"instoreUiUri"`
	OrderStatus         string               `json:"orderStatus"`
	PaymentMethodType   string               `json:"paymentMethodType,omitempty"`
	CampaignCode        *int64               `json:"campaignCode,omitempty"`
	PaymentType         string               `json:"paymentType,omitempty"`
	PaymentOrderID      *int64               `json:"paymentOrderId"`
	CustomerInformation *customerInformation `json:"customerInformation,omitempty"`
	Tags                []string             `json:"tags"`
	OrderItems          []orderItem          `json:"orderItems"`
	SMSSentSuccessfully *bool                `json:"smsSentSuccessfully,omitempty"`
}

type customerInformation struct {
	EmailAddress      string `json:"emailAddress"`
	MobilePhoneNumber string `json:"mobilePhoneNumber"`
}

type returnRequest struct {
	ReturnedItems []orderItem `json:"returnedItems"`
}
