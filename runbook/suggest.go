package runbook

import "strconv"

// Suggest returns the candidate closest to word when it is close enough
// to be a likely typo ("retry" for "retries", "deploydir" for
// "deploy_dir"), else "". Ties go to the earlier candidate so messages are
// stable.
func Suggest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		if c == word {
			continue
		}
		d := editDistance(word, c)
		if d > 1 && endingOnly(word, c) {
			// Only the ending differs ("retry" for "retries"): one slip,
			// closer than a word that differs in the middle ("relay").
			d = 1
		}
		// One edit in a short word is as telling as three in a long one,
		// and a word must keep at least one of its letters.
		limit := max(1, min(3, max(len(word), len(c))/2))
		if d > limit || d >= len(word) {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// endingOnly reports whether c begins with all of word but its last
// letter, and word is long enough (four letters kept) for that to tell.
func endingOnly(word, c string) bool {
	w := []rune(word)
	if len(w) < 5 {
		return false
	}
	stem := string(w[:len(w)-1])
	return len(c) > len(stem) && c[:len(stem)] == stem
}

// didYouMean formats Suggest's answer as the tail of an error message.
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return "; did you mean " + strconv.Quote(s) + "?"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, counting an
// adjacent transposition as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
