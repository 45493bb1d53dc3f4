// LearnGraph's GraphiQL: served by the service itself (no CDN), one example tab per domain.
// Signed-in examples need a bearer token: paste it into the Headers tab.
(function () {
  'use strict';
  var TOKEN = '{\n  "Authorization": "Bearer paste-a-token-here"\n}';
  var examples = [
    {
      query:
        '# Course discovery: the newest published courses, with category, instructor and lesson count.\n' +
        '# Try filter: { levels: [BEGINNER] }, search: "rust", orderBy: RATING, or page with `after`.\n' +
        'query Discovery($first: Int = 10) {\n' +
        '  courses(first: $first, orderBy: NEWEST) {\n' +
        '    totalCount\n' +
        '    nodes { slug title level price rating category { name } instructor { firstName lastName } lessonCount }\n' +
        '    pageInfo { hasNextPage endCursor }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "first": 10\n}',
    },
    {
      query:
        '# A course page: put a slug from the Discovery tab in the variables.\n' +
        'query CoursePage($slug: String) {\n' +
        '  course(slug: $slug) {\n' +
        '    title description price rating tags\n' +
        '    instructor { firstName lastName }\n' +
        '    lessons { position title durationMinutes isFree }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "slug": "a-slug-from-discovery"\n}',
    },
    {
      query:
        '# The signed-in learner\'s dashboard (paste a bearer token into Headers).\n' +
        'query Dashboard {\n' +
        '  me {\n' +
        '    enrollments(first: 10) {\n' +
        '      nodes { course { slug title } progress { lessons { lessonId completionPercentage } } }\n' +
        '    }\n' +
        '  }\n' +
        '}\n',
      headers: TOKEN,
    },
    {
      query:
        '# A quiz with the signed-in learner\'s attempts (paste a bearer token into Headers).\n' +
        'query Quiz($id: ID!) {\n' +
        '  quiz(id: $id) {\n' +
        '    title passingScore\n' +
        '    questions { id prompt }\n' +
        '    myAttempts { attemptNumber score isPassed }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "id": "a-quiz-id"\n}',
      headers: TOKEN,
    },
  ];
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + '/graphql' });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: examples,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: true,
    })
  );
})();
