"""Guided tour: the teaching tour's steps, each opening a page with its settings, its question and a speaker note."""

import streamlit as st

from ui import data, sidebar, tours
from ui.navigation import entry

settings = sidebar.render()
st.title("Guided tour")
st.markdown(
    "The teaching tour of the README as steps inside the app. Each step opens a page with its settings, shows the "
    "question to ask and a short speaker note above the page, and has **Back** and **Next**. Every number in a "
    "step's text is computed from the view it opens. The link of a step opens it in any browser."
)
for tour_id, tour in tours.TOURS.items():
    st.subheader(f"On {tour.name}")
    if tour.settings.get("source") == "mosi":
        folder = data.mosi_folder(settings)
        if folder is None:
            st.info("No CMU-MOSI utterance folder was found on this server: this tour needs one (see the sidebar).")
            continue
    for number, step in enumerate(tour.steps, start=1):
        title, icon = entry(step.page)
        st.markdown(f"{number}. **{step.title}** ({title})")
    if st.button(f"Start the tour on {tour.name}", key=f"tour_start_{tour_id}", type="primary"):
        st.switch_page(tour.steps[0].page, query_params=tours.step_params(tour_id, 1))
