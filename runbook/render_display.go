package runbook

// RenderForDisplay renders a template for the operator's eyes (plan, Show
// details): secrets appear as **** and are never resolved, so no vault is
// needed; a template that fails to render is shown as written.
func RenderForDisplay(text string, d TemplateData) string {
	out, err := Render(text, d, func(string) (string, error) { return "****", nil })
	if err != nil {
		return text
	}
	return out
}
