from casework.scoring import RewardBreakdown, compute_reward, outputs_found


def test_outputs_found_ignores_case_and_commas():
    messages = ["The total is 1234.50 dollars.", "Your tracking colour is BLUE, sir."]
    assert outputs_found(["1,234.50", "blue", "Blue, Sir", "green"], messages) == [True, True, True, False]


def test_outputs_found_needs_one_message_to_hold_the_whole_output():
    assert outputs_found(["1234"], ["12", "34"]) == [False]


def test_outputs_found_skips_empty_and_none_messages():
    assert outputs_found(["x"], [None, "", "a X b"]) == [True]
    assert outputs_found([], ["anything"]) == []


def test_reward_one_when_hashes_equal_and_all_outputs_said():
    r = compute_reward("h1", "h1", ["10,000"], ["It costs 10000."])
    assert r == RewardBreakdown(1.0, True, True, [True], "h1", "h1")
    assert r.success


def test_reward_zero_when_database_differs():
    r = compute_reward("h1", "h2", [], ["hi"])
    assert (r.reward, r.db_match, r.outputs_match, r.outputs_found) == (0.0, False, True, [])
    assert not r.success


def test_reward_zero_when_an_output_is_missing_components_reported_separately():
    r = compute_reward("h1", "h1", ["42", "red"], ["the answer is 42"])
    assert (r.reward, r.db_match, r.outputs_match, r.outputs_found) == (0.0, True, False, [True, False])
