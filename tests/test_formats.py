"""Readers of the official MovieLens and Tenrec formats: happy paths and every input error.

Each test writes tiny files in the real format into tmp_path.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pcl_pipeline.errors import InputError
from pcl_pipeline.formats import detect_format, read_source

ML1M_RATINGS = "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"
ML1M_MOVIES = "10::Amélie (2001)::Comedy|Romance\n20::Toy Story (1995)::Animation|Children's\n"
VIDEO_HEADER = "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age"
ARTICLE_HEADER = ("user_id,item_id,click,follow,like,share,category_first,category_second,"
                  "read,read_percentage,favorite,gender,age")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def write(folder: Path, files: dict[str, str | bytes], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode(encoding)
        (folder / name).write_bytes(data)
    return folder


def ml1m(folder: Path, **override: str | bytes) -> Path:
    files = {"ratings.dat": ML1M_RATINGS, "users.dat": ML1M_USERS, "movies.dat": ML1M_MOVIES}
    files.update({k.replace("_", "."): v for k, v in override.items()})
    return write(folder, files, encoding="latin-1")


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    # No ORDER BY on purpose: the table itself must be in file order.
    return con.execute(f"SELECT * FROM {table}").fetchall()


def read_error(con: duckdb.DuckDBPyConnection, dataset: str, folder: Path) -> InputError:
    with pytest.raises(InputError) as info:
        read_source(con, dataset, folder)
    return info.value


# --- happy paths -------------------------------------------------------------------------------


def test_ml1m_reads_typed_rows_in_file_order_with_latin1_titles(con, tmp_path):
    src = read_source(con, "movielens", ml1m(tmp_path))
    assert (src.dataset, src.format, src.folder) == ("movielens", "ml-1m", tmp_path)
    assert src.tables == {"ratings": "raw_ratings", "users": "raw_users", "movies": "raw_movies"}
    assert src.files["ratings"] == tmp_path / "ratings.dat"
    assert rows(con, "raw_ratings") == [
        (1, 1, 10, 5.0, 978300760), (2, 1, 20, 3.0, 978302109), (3, 2, 10, 4.0, 978301968)]
    assert rows(con, "raw_users") == [(1, 1, "F", 1, "10"), (2, 2, "M", 56, "16")]
    assert rows(con, "raw_movies") == [
        (1, 10, "Amélie (2001)", "Comedy|Romance"),
        (2, 20, "Toy Story (1995)", "Animation|Children's")]
    types = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'raw_ratings' ORDER BY ordinal_position").fetchall()
    assert types == [("line", "BIGINT"), ("user_id", "BIGINT"), ("item_id", "BIGINT"),
                     ("rating", "DOUBLE"), ("timestamp", "BIGINT")]
    (age_type,) = con.execute("SELECT data_type FROM information_schema.columns "
                              "WHERE table_name = 'raw_users' AND column_name = 'age'").fetchone()
    assert age_type == "INTEGER"


def test_ml1m_accepts_crlf_and_trailing_blank_lines(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\r\n1::20::3::978302109\r\n\r\n\r\n")
    read_source(con, "movielens", tmp_path)
    assert rows(con, "raw_ratings") == [(1, 1, 10, 5.0, 978300760), (2, 1, 20, 3.0, 978302109)]


def test_ml100k_reads_tab_ratings_pipe_users_and_genre_flags(con, tmp_path):
    flags_toy = ["0"] * 19
    for genre in (3, 4, 5):  # Animation, Children's, Comedy
        flags_toy[genre] = "1"
    write(tmp_path, {
        "u.data": "196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
        "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
        "u.item": ("1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(flags_toy) + "\n"
                   "2|Café (1995)|01-Jan-1995||http://y|" + "|".join(["0"] * 19) + "\n"),
    }, encoding="latin-1")
    src = read_source(con, "movielens", tmp_path)
    assert src.format == "ml-100k"
    assert rows(con, "raw_ratings") == [(1, 196, 242, 3.0, 881250949), (2, 186, 302, 3.0, 891717742)]
    assert rows(con, "raw_users") == [(1, 1, "M", 24, "technician"), (2, 2, "F", 53, "other")]
    assert rows(con, "raw_movies") == [
        (1, 1, "Toy Story (1995)", "Animation|Children's|Comedy"), (2, 2, "Café (1995)", "")]


def test_ml_latest_reads_quoted_titles_half_star_ratings_and_has_no_users(con, tmp_path):
    write(tmp_path, {
        "ratings.csv": "userId,movieId,rating,timestamp\n1,1,3.5,1112486027\n1,29,0.5,1112484676\n",
        "movies.csv": ('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                       '11,"American President, The (1995)",Comedy|Drama|Romance\n'
                       '12,Amélie (2001),(no genres listed)\n'),
        "tags.csv": "userId,movieId,tag,timestamp\n",  # other ML-latest files are ignored
    })
    src = read_source(con, "movielens", tmp_path)
    assert src.format == "ml-latest"
    assert set(src.tables) == {"ratings", "movies"}
    assert rows(con, "raw_ratings") == [(2, 1, 1, 3.5, 1112486027), (3, 1, 29, 0.5, 1112484676)]
    assert rows(con, "raw_movies") == [
        (2, 1, "Toy Story (1995)", "Adventure|Animation"),
        (3, 11, "American President, The (1995)", "Comedy|Drama|Romance"),
        (4, 12, "Amélie (2001)", "")]


def test_tenrec_lifelong_matches_columns_by_name_and_keeps_click_order(con, tmp_path):
    # Columns reordered and an extra one: matched by name, the extra dropped.
    reordered = "age,gender,extra," + ",".join(VIDEO_HEADER.split(",")[:-2])
    write(tmp_path, {
        "task_0.csv": (f"{reordered}\n"
                       "3,1,x,7,30,1,0,0,0,2,1.5\n"
                       "3,1,x,7,10,1,0,1,0,2,0\n"
                       "2,0,x,5,20,0,0,0,0,4,12\n"),
        "task_1.csv": f"{ARTICLE_HEADER}\n7,99,1,0,0,0,3,17,1,0.75,0,1,3\n",
        "QK-video.csv": f"{VIDEO_HEADER}\n1,1,1,0,0,0,1,1,1,1\n",  # ignored: lifelong wins
    })
    src = read_source(con, "tenrec", tmp_path)
    assert src.format == "tenrec-lifelong"
    assert src.tables == {"task_0": "raw_task_0", "task_1": "raw_task_1"}
    assert rows(con, "raw_task_0") == [
        (2, 7, 30, 1, 0, 0, 0, 2, 1.5, 1, 3),
        (3, 7, 10, 1, 0, 1, 0, 2, 0.0, 1, 3),
        (4, 5, 20, 0, 0, 0, 0, 4, 12.0, 0, 2)]
    assert rows(con, "raw_task_1") == [(2, 7, 99, 1, 0, 0, 0, 3, 17, 1, 0.75, 0, 1, 3)]


def test_tenrec_task_3_accepts_the_article_layout_too(con, tmp_path):
    write(tmp_path, {
        "task_0.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n",
        "task_3.csv": f"{ARTICLE_HEADER}\n1,5,1,0,0,0,3,17,1,0.5,0,1,2\n",
    })
    read_source(con, "tenrec", tmp_path)
    assert rows(con, "raw_task_3") == [(2, 1, 5, 1, 0, 0, 0, 3, 17, 1, 0.5, 0, 1, 2)]


def test_tenrec_scenario_files_become_tables_named_after_the_file(con, tmp_path):
    write(tmp_path, {
        "QK-video.csv": f"{VIDEO_HEADER}\n0,0,1,0,0,0,3,1,1,2\n5,6,0,0,0,0,3,0,1,2\n",
        "sbr_data_1M.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n",
    })
    src = read_source(con, "tenrec", tmp_path)
    assert src.format == "tenrec-scenario"
    assert src.tables == {"qk_video": "raw_qk_video", "sbr_data_1m": "raw_sbr_data_1m"}
    assert rows(con, "raw_qk_video") == [
        (2, 0, 0, 1, 0, 0, 0, 3, 1.0, 1, 2), (3, 5, 6, 0, 0, 0, 0, 3, 0.0, 1, 2)]


@pytest.mark.parametrize(("dataset", "name", "fmt"), [
    ("movielens", "ratings.dat", "ml-1m"), ("movielens", "u.data", "ml-100k"),
    ("movielens", "ratings.csv", "ml-latest"), ("tenrec", "task_2.csv", "tenrec-lifelong"),
    ("tenrec", "QB-article.csv", "tenrec-scenario"),
])
def test_detect_format_from_file_names(tmp_path, dataset, name, fmt):
    write(tmp_path, {name: ""})
    assert detect_format(dataset, tmp_path) == fmt


def test_reading_twice_replaces_the_tables(con, tmp_path):
    ml1m(tmp_path)
    read_source(con, "movielens", tmp_path)
    read_source(con, "movielens", tmp_path)
    assert len(rows(con, "raw_ratings")) == 3


def test_refuses_a_connection_that_does_not_keep_file_order(tmp_path):
    unordered = duckdb.connect(config={"preserve_insertion_order": False})
    with pytest.raises(ValueError, match="preserve_insertion_order"):
        read_source(unordered, "movielens", ml1m(tmp_path))


# --- errors ------------------------------------------------------------------------------------


def test_missing_companion_file_is_named(con, tmp_path):
    ml1m(tmp_path)
    (tmp_path / "users.dat").unlink()
    err = read_error(con, "movielens", tmp_path)
    assert err.file == str(tmp_path / "users.dat")
    assert "missing file" in err.problem and "ml-1m" in err.problem


def test_missing_task_0_in_lifelong_folder(con, tmp_path):
    write(tmp_path, {"task_1.csv": f"{ARTICLE_HEADER}\n1,5,1,0,0,0,3,17,1,0.5,0,1,2\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert err.file == str(tmp_path / "task_0.csv")


def test_nonexistent_folder(con, tmp_path):
    err = read_error(con, "movielens", tmp_path / "nope")
    assert err.file == str(tmp_path / "nope") and "does not exist" in err.problem


def test_empty_folder(con, tmp_path):
    err = read_error(con, "tenrec", tmp_path)
    assert "empty" in err.problem and "task_0.csv" in err.expected


def test_unknown_format_lists_found_and_expected_names(con, tmp_path):
    write(tmp_path, {"readme.txt": "hi", "ratings.tsv": "1\t2\n"})
    (tmp_path / "ml-1m").mkdir()
    err = read_error(con, "movielens", tmp_path)
    assert "unknown movielens format" in err.problem
    assert err.value == "ml-1m/, ratings.tsv, readme.txt"
    assert "ratings.dat" in err.expected and "u.data" in err.expected


def test_unknown_dataset(con, tmp_path):
    err = read_error(con, "netflix", tmp_path)
    assert err.value == "netflix" and "movielens" in err.expected


def test_zero_byte_file_has_no_data_rows(con, tmp_path):
    ml1m(tmp_path, movies_dat="")
    err = read_error(con, "movielens", tmp_path)
    assert err.file == str(tmp_path / "movies.dat") and "no data rows" in err.problem


def test_header_only_file_has_no_data_rows(con, tmp_path):
    write(tmp_path, {"task_0.csv": VIDEO_HEADER + "\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert err.file == str(tmp_path / "task_0.csv") and err.problem == "no data rows"


@pytest.mark.parametrize(("content", "looks"), [
    ("1,10,5,978300760\n", "','"), ("1\t10\t5\t978300760\n", "'\\t'")])
def test_wrong_delimiter_in_headerless_file(con, tmp_path, content, looks):
    ml1m(tmp_path, ratings_dat=content)
    err = read_error(con, "movielens", tmp_path)
    assert err.file == str(tmp_path / "ratings.dat") and err.line == 1
    assert "wrong delimiter" in err.problem and "'::'" in err.problem and looks in err.problem
    assert "UserID::MovieID::Rating::Timestamp" in err.expected


def test_wrong_delimiter_in_header_file(con, tmp_path):
    write(tmp_path, {"ratings.csv": "userId\tmovieId\trating\ttimestamp\n1\t1\t3.5\t1\n",
                     "movies.csv": "movieId,title,genres\n1,A,B\n"})
    err = read_error(con, "movielens", tmp_path)
    assert err.line == 1 and "wrong delimiter" in err.problem and "','" in err.problem


def test_missing_column_is_named_with_expected_header(con, tmp_path):
    write(tmp_path, {"ratings.csv": "userId,movieId,timestamp\n1,1,5\n",
                     "movies.csv": "movieId,title,genres\n1,A,B\n"})
    err = read_error(con, "movielens", tmp_path)
    assert err.file == str(tmp_path / "ratings.csv") and err.line == 1
    assert err.field == "rating" and "userId,movieId,rating,timestamp" in err.expected


def test_tenrec_missing_required_column(con, tmp_path):
    header = VIDEO_HEADER.replace(",click", "")
    write(tmp_path, {"QB-video.csv": f"{header}\n1,2,0,0,0,3,1,1,2\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert err.field == "click" and VIDEO_HEADER in err.expected and "optional: age" in err.expected


def test_tenrec_lifelong_files_with_the_released_headers(con, tmp_path):
    """The headers Tenrec ships: task_1 lacks the article categories and read_percentage, task_3
    carries only ids, click and the profile; absent columns read as missing; `\\N` is missing."""
    from pcl_pipeline.formats.tenrec import RELEASED_HEADERS

    write(tmp_path, {
        "task_0.csv": f"{RELEASED_HEADERS['task_0.csv']}\n1,2,1,0,0,0,\\N,1,1,2\n1,3,1,0,1,0,7,2.5,1,2\n",
        "task_1.csv": f"{RELEASED_HEADERS['task_1.csv']}\n1,5,1,1,2,1,0,1,0,0\n",
        "task_2.csv": f"{RELEASED_HEADERS['task_2.csv']}\n1,9,1,0,1,0,\\N,3,1,2\n",
        "task_3.csv": f"{RELEASED_HEADERS['task_3.csv']}\n1,2,1,1,2\n",
    })
    src = read_source(con, "tenrec", tmp_path)
    assert src.tolerated == {"task_0.csv": {"video_category \\N read as missing": 1},
                             "task_2.csv": {"video_category \\N read as missing": 1}}
    t0 = con.execute("SELECT video_category, watching_times FROM raw_task_0 ORDER BY line").fetchall()
    assert t0 == [(None, 1.0), (7, 2.5)]
    t1 = con.execute("SELECT user_id, item_id, click, gender, age, read, share, \"like\", follow, favorite, "
                     "category_first, read_percentage FROM raw_task_1").fetchall()
    assert t1 == [(1, 5, 1, 1, 2, 1, 0, 1, 0, 0, None, None)]
    t3 = con.execute("SELECT user_id, item_id, click, gender, age, \"like\" FROM raw_task_3").fetchall()
    assert t3 == [(1, 2, 1, 1, 2, None)]


def test_tenrec_missing_token_in_a_required_field_is_an_error(con, tmp_path):
    write(tmp_path, {"task_0.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n\\N,2,1,0,0,0,3,1,1,2\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert (err.line, err.field, err.value) == (3, "user_id", "\\N") and "not an integer" in err.problem


def test_non_numeric_id_reports_line_field_value(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20::3::978302109\nabc::10::4::9783\n")
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (3, "user_id", "abc")
    assert "integer" in err.expected
    assert str(err).startswith(f"{tmp_path / 'ratings.dat'}:3: not an integer")


def test_fractional_id_is_not_an_integer(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20.5::3::978302109\n")
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (2, "item_id", "20.5")


def test_non_numeric_id_line_counts_the_header(con, tmp_path):
    write(tmp_path, {"task_0.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n1,x7,1,0,0,0,3,1,1,2\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert (err.line, err.field, err.value) == (3, "item_id", "x7")


def test_empty_field_is_reported_not_treated_as_missing(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::::3::978302109\n")
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (2, "item_id", "")


def test_truncated_last_line_names_line_and_missing_field(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20::3::978302109\n5::12")
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field) == (3, "rating") and "2 of 4 fields" in err.problem


def test_truncated_line_in_header_file(con, tmp_path):
    write(tmp_path, {"task_0.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n1,2,1,0,0\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert (err.line, err.field) == (3, "share") and "5 of 10 fields" in err.problem


def test_too_many_fields_reports_the_line(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n1::20::3::978302109::7\n")
    err = read_error(con, "movielens", tmp_path)
    assert err.line == 2 and "5 fields" in err.problem


# --- what carries no data is tolerated, counted, and keeps line numbers true ----------------------


def test_blank_lines_anywhere_are_skipped_counted_and_lines_stay_true(con, tmp_path):
    ml1m(tmp_path, ratings_dat="\n1::10::5::978300760\n\n\n1::20::3::978302109\n\n2::10::4::978301968\n\n",
         users_dat="\n" + ML1M_USERS)
    src = read_source(con, "movielens", tmp_path)
    assert [r[0] for r in rows(con, "raw_ratings")] == [2, 5, 7]  # the lines in the file
    assert src.tolerated == {"ratings.dat": {"blank lines skipped": 4}, "users.dat": {"blank lines skipped": 1}}
    # and an error after blank lines names its real line
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n\n\n1::20::x::978302109\n")
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (4, "rating", "x")


def test_blank_line_before_a_header(con, tmp_path):
    write(tmp_path, {"task_0.csv": f"\n{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n"})
    src = read_source(con, "tenrec", tmp_path)
    assert [r[0] for r in rows(con, "raw_task_0")] == [3]
    assert src.tolerated == {"task_0.csv": {"blank lines skipped": 1}}


def test_bom_crlf_spaces_and_empty_trailing_columns_are_tolerated_and_counted(con, tmp_path):
    ratings = "\ufeffuserId,movieId,rating,timestamp,,,,\r\n1, 10 ,4.5,978300760,,,,\r\n2,20,3,978302109\r\n"
    write(tmp_path, {"ratings.csv": ratings, "movies.csv": "movieId,title,genres\n10,A (1995),Comedy\n20,B,Drama\n"})
    src = read_source(con, "movielens", tmp_path)
    got = [r[1:] for r in rows(con, "raw_ratings")]
    assert [(g[0], g[1]) for g in got] == [(1, 10), (2, 20)]
    assert src.tolerated["ratings.csv"] == {"UTF-8 byte-order mark": 1, "CRLF line ends": 1,
                                            "empty trailing header columns": 4,
                                            "rows with empty trailing fields": 1, "rows with spaces around numbers": 1}


def test_values_under_unnamed_header_columns_are_ignored_and_counted(con, tmp_path, caplog):
    """Spreadsheet residue in a real ratings.csv: the header ends in unnamed columns and some rows
    carry values there. Not part of the format: ignored, the rows counted, one warning naming them."""
    ratings = ("userId,movieId,rating,timestamp,,,,\n1,1129,2,1260759185,,3.450819672,,3.543608256\n"
               "1,20,4,1260759205,,,,\n2,1129,5,1260759300\n")
    write(tmp_path, {"ratings.csv": ratings, "movies.csv": "movieId,title,genres\n20,A (1995),Comedy\n1129,B,Drama\n"})
    with caplog.at_level("WARNING"):
        src = read_source(con, "movielens", tmp_path)
    assert [r[1:4] for r in rows(con, "raw_ratings")] == [(1, 1129, 2.0), (1, 20, 4.0), (2, 1129, 5.0)]
    key = "rows with values in unnamed columns 5-8 (ignored: the header names no such column)"
    assert src.tolerated["ratings.csv"] == {"empty trailing header columns": 4, key: 1,
                                            "rows with empty trailing fields": 1}
    assert [r.getMessage() for r in caplog.records if "unnamed" in r.getMessage()] == [
        f"{tmp_path / 'ratings.csv'}: the header leaves columns 5-8 unnamed; their values in 1 rows are ignored"]


def test_a_value_beyond_the_headers_columns_or_under_a_named_one_still_fails(con, tmp_path):
    write(tmp_path, {"ratings.csv": "userId,movieId,rating,timestamp,,\n1,20,4,1260759205,,,9\n",
                     "movies.csv": "movieId,title,genres\n20,A (1995),Comedy\n"})
    err = read_error(con, "movielens", tmp_path)
    assert err.line == 2 and "7 fields" in err.problem and err.value == "9"
    write(tmp_path, {"ratings.csv": "userId,movieId,rating,timestamp,,\n1,20,x,1260759205,,3.4\n"})
    err = read_error(con, "movielens", tmp_path)
    assert err.line == 2 and err.field == "rating" and err.value == "x"


def test_a_value_in_a_trailing_extra_field_is_still_an_error(con, tmp_path):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760::\n1::20::3::978302109::7\n")
    err = read_error(con, "movielens", tmp_path)
    assert err.line == 2 and "5 fields" in err.problem and err.value == "7"


def test_invalid_utf8_reports_the_line(con, tmp_path):
    write(tmp_path, {"task_0.csv": (f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,1,1,2\n".encode()
                                    + b"1,2,1,0,0,0,\xff\xfe,1,1,2\n")})
    err = read_error(con, "tenrec", tmp_path)
    assert err.line == 3 and "encoding" in err.problem


@pytest.mark.parametrize(("ratings", "field", "value"), [
    ("1::10::6::978300760\n", "rating", "6"),
    ("1::10::0::978300760\n", "rating", "0"),
    ("0::10::5::978300760\n", "user_id", "0"),
    ("1::-3::5::978300760\n", "item_id", "-3"),
])
def test_out_of_range_ratings_and_ids(con, tmp_path, ratings, field, value):
    ml1m(tmp_path, ratings_dat="1::10::5::978300760\n" + ratings)
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (2, field, value)
    assert err.problem == "value out of range"
    assert err.expected == ("a number in 0.5..5" if field == "rating" else "an integer >= 1")


def test_gender_not_m_or_f(con, tmp_path):
    ml1m(tmp_path, users_dat="1::F::1::10::48067\n2::X::56::16::70072\n")
    err = read_error(con, "movielens", tmp_path)
    assert (err.file, err.line, err.field, err.value) == (
        str(tmp_path / "users.dat"), 2, "gender", "X")
    assert err.expected == "one of 'M', 'F'"


def test_ml100k_genre_flag_must_be_0_or_1(con, tmp_path):
    write(tmp_path, {
        "u.data": "1\t1\t3\t881250949\n",
        "u.user": "1|24|M|technician|85711\n",
        "u.item": "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["2"] * 19) + "\n",
    })
    err = read_error(con, "movielens", tmp_path)
    assert (err.line, err.field, err.value) == (1, "genre_0", "2")


def test_tenrec_negative_id_and_non_finite_number(con, tmp_path):
    write(tmp_path, {"QK-video.csv": f"{VIDEO_HEADER}\n-1,2,1,0,0,0,3,1,1,2\n"})
    err = read_error(con, "tenrec", tmp_path)
    assert (err.line, err.field, err.value) == (2, "user_id", "-1")
    for bad in ("nan", "inf", "-inf", "abc"):  # NaN, infinities and text in a number field
        write(tmp_path, {"QK-video.csv": f"{VIDEO_HEADER}\n1,2,1,0,0,0,3,{bad},1,2\n"})
        err = read_error(con, "tenrec", tmp_path)
        assert (err.line, err.field, err.value, err.problem) == (2, "watching_times", bad, "not a finite number")
