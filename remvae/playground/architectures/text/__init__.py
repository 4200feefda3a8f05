"""Text VAEs: LSTM, GRU, xLSTM."""
