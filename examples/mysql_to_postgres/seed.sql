-- Seed for examples/mysql_to_postgres (MySQL 8 / MariaDB 10.6+): a small movie database,
-- the schema the original Osiris examples query (movies, directors, actors, movie_actors,
-- reviews). Re-runnable: it drops and recreates the tables in the current database.
--
--   mysql -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS osiris_movies CHARACTER SET utf8mb4'
--   mysql -h 127.0.0.1 -u root osiris_movies < examples/mysql_to_postgres/seed.sql

SET NAMES utf8mb4;
DROP TABLE IF EXISTS reviews, movie_actors, movies, actors, directors;

CREATE TABLE directors (
  director_id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  nationality VARCHAR(50),
  birth_year SMALLINT
) CHARACTER SET utf8mb4;

CREATE TABLE actors (
  actor_id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  nationality VARCHAR(50),
  birth_year SMALLINT
) CHARACTER SET utf8mb4;

CREATE TABLE movies (
  movie_id INT PRIMARY KEY,
  title VARCHAR(200) NOT NULL,
  release_year SMALLINT NOT NULL,
  director_id INT NULL,
  genre VARCHAR(50),
  runtime_minutes SMALLINT,
  budget_usd DECIMAL(15, 2) NULL,
  box_office_usd DECIMAL(15, 2) NULL,
  CONSTRAINT fk_movies_director FOREIGN KEY (director_id) REFERENCES directors (director_id)
) CHARACTER SET utf8mb4;

CREATE TABLE movie_actors (
  movie_id INT NOT NULL,
  actor_id INT NOT NULL,
  role_name VARCHAR(100),
  PRIMARY KEY (movie_id, actor_id),
  CONSTRAINT fk_ma_movie FOREIGN KEY (movie_id) REFERENCES movies (movie_id),
  CONSTRAINT fk_ma_actor FOREIGN KEY (actor_id) REFERENCES actors (actor_id)
) CHARACTER SET utf8mb4;

CREATE TABLE reviews (
  review_id INT PRIMARY KEY,
  movie_id INT NOT NULL,
  reviewer VARCHAR(100) NOT NULL,
  rating DECIMAL(3, 1) NOT NULL,
  review_text TEXT,
  review_date DATE NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_reviews_movie FOREIGN KEY (movie_id) REFERENCES movies (movie_id)
) CHARACTER SET utf8mb4;

INSERT INTO directors VALUES
  (1, 'Christopher Nolan', 'British', 1970),
  (2, 'Greta Gerwig', 'American', 1983),
  (3, 'Hayao Miyazaki', 'Japanese', 1941),
  (4, 'Pedro Almodóvar', 'Spanish', 1949),
  (5, 'Bong Joon-ho', 'South Korean', 1969),
  (6, 'Agnès Varda', 'French', 1928),
  (7, 'Miloš Forman', 'Czech', 1932),
  (8, 'Céline Sciamma', 'French', 1978);

INSERT INTO actors VALUES
  (1, 'Cillian Murphy', 'Irish', 1976),
  (2, 'Saoirse Ronan', 'Irish', 1994),
  (3, 'Song Kang-ho', 'South Korean', 1967),
  (4, 'Penélope Cruz', 'Spanish', 1974),
  (5, 'Antonio Banderas', 'Spanish', 1960),
  (6, 'Florence Pugh', 'British', 1996),
  (7, 'Tom Hulce', 'American', 1953),
  (8, 'F. Murray Abraham', 'American', 1939),
  (9, 'Noémie Merlant', 'French', 1988),
  (10, 'Adèle Haenel', 'French', 1989),
  (11, 'Choi Woo-shik', 'South Korean', 1990),
  (12, 'Emily Blunt', 'British', 1983);

INSERT INTO movies VALUES
  (1, 'Inception', 2010, 1, 'Sci-Fi', 148, 160000000.00, 836800000.00),
  (2, 'Oppenheimer', 2023, 1, 'Drama', 180, 100000000.00, 975600000.00),
  (3, 'Interstellar', 2014, 1, 'Sci-Fi', 169, 165000000.00, 701700000.00),
  (4, 'Lady Bird', 2017, 2, 'Comedy', 94, 10000000.00, 79000000.00),
  (5, 'Little Women', 2019, 2, 'Drama', 135, 40000000.00, 218800000.00),
  (6, 'Spirited Away', 2001, 3, 'Animation', 125, 19000000.00, 395800000.00),
  (7, 'My Neighbor Totoro', 1988, 3, 'Animation', 86, 3700000.00, 41000000.00),
  (8, 'Volver', 2006, 4, 'Drama', 121, 9400000.00, 87200000.00),
  (9, 'Pain and Glory', 2019, 4, 'Drama', 113, 10800000.00, 37300000.00),
  (10, 'Parasite', 2019, 5, 'Thriller', 132, 11400000.00, 262600000.00),
  (11, 'Memories of Murder', 2003, 5, 'Crime', 131, 2800000.00, NULL),
  (12, 'Cléo from 5 to 7', 1962, 6, 'Drama', 90, NULL, NULL),
  (13, 'Amadeus', 1984, 7, 'Drama', 160, 18000000.00, 90000000.00),
  (14, 'One Flew Over the Cuckoo''s Nest', 1975, 7, 'Drama', 133, 3000000.00, 109000000.00),
  (15, 'Portrait of a Lady on Fire', 2019, 8, 'Romance', 122, 5000000.00, 9200000.00),
  (16, 'Untitled Festival Short', 2024, NULL, 'Short', 14, NULL, NULL);

INSERT INTO movie_actors VALUES
  (1, 1, 'Robert Fischer'), (2, 1, 'J. Robert Oppenheimer'), (2, 6, 'Jean Tatlock'),
  (2, 12, 'Kitty Oppenheimer'), (4, 2, 'Christine "Lady Bird" McPherson'), (5, 2, 'Jo March'),
  (5, 6, 'Amy March'), (8, 4, 'Raimunda'), (9, 5, 'Salvador Mallo'), (9, 4, 'Jacinta'),
  (10, 3, 'Kim Ki-taek'), (10, 11, 'Kim Ki-woo'), (11, 3, 'Park Doo-man'), (13, 7, 'Mozart'),
  (13, 8, 'Salieri'), (15, 9, 'Marianne'), (15, 10, 'Héloïse');

INSERT INTO reviews VALUES
  (1, 1, 'ana', 9.0, 'Dreams within dreams; the score does half the work.', '2010-07-20', '2010-07-20 21:15:00'),
  (2, 1, 'ben', 8.5, NULL, '2010-08-02', '2010-08-02 10:00:00'),
  (3, 2, 'chloé', 9.5, 'Three hours that feel like one.', '2023-07-22', '2023-07-22 23:40:00'),
  (4, 3, 'dan', 8.0, 'Docking scene, enough said.', '2014-11-09', '2014-11-09 18:30:00'),
  (5, 4, 'eva', 8.0, 'Sacramento, with love.', '2017-11-15', '2017-11-15 12:00:00'),
  (6, 5, 'ana', 8.5, 'The attic scene, "Christmas won''t be Christmas"...', '2019-12-28', '2019-12-28 09:05:00'),
  (7, 6, 'jiří', 10.0, 'Nejlepší animovaný film.', '2003-03-01', '2003-03-01 14:00:00'),
  (8, 6, 'ben', 9.0, NULL, '2002-09-20', '2002-09-20 20:00:00'),
  (9, 7, 'eva', 9.0, 'Catbus!', '1993-05-05', '1993-05-05 16:45:00'),
  (10, 8, 'lucía', 8.0, 'Almodóvar at his warmest.', '2006-03-17', '2006-03-17 19:00:00'),
  (11, 10, 'minji', 9.5, 'Stairs up, stairs down.', '2019-05-30', '2019-05-30 22:10:00'),
  (12, 10, 'dan', 9.0, 'Genre-bending, precise, funny.', '2019-10-12', '2019-10-12 11:11:00'),
  (13, 11, 'minji', 8.5, NULL, '2003-05-02', '2003-05-02 08:00:00'),
  (14, 13, 'tomáš', 9.0, 'Salieri steals it.', '1985-01-10', '1985-01-10 20:20:00'),
  (15, 14, 'tomáš', 9.5, NULL, '1976-02-01', '1976-02-01 17:00:00'),
  (16, 15, 'chloé', 9.0, 'Every frame a painting; the ending, devastating.', '2019-09-18', '2019-09-18 21:00:00'),
  (17, 12, 'chloé', 8.0, 'Paris in real time.', '2005-06-01', '2005-06-01 10:00:00'),
  (18, 9, 'lucía', 7.5, NULL, '2019-03-22', '2019-03-22 13:30:00');
